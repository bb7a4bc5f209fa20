// Package guest converts the operating system inside a converted disk so
// that it boots on KVM: it runs virt-v2v-in-place (libguestfs) on the disk,
// which puts virtio drivers into the initramfs, removes VMware tools, fixes
// fstab and the boot loader, and installs qemu-guest-agent where it can.
// What virt-v2v saw and changed is kept in a Result and its log file.
// Before virt-v2v, a guestfish pass pins the NIC names the guest's
// network configuration uses (ens192 on VMware) to the VM's NIC MACs with
// a udev rule, so that configuration keeps working on virtio NICs.
//
// Windows guests are skipped: virtio-win drivers are not available
// offline, so the plan gives them the compatibility mode (SATA, e1000e)
// instead.
package guest
