// Package testenv holds what the test environment's components share: the
// cache folder where downloads, builds and probe results are kept between
// runs. The components themselves are packages of their own, so a test
// links only the ones it uses:
//
//   - testguest: the bootable test guest (kernel, busybox initramfs, FAT
//     disk) and its raw, VMDK, VMX, OVF and OVA files
//   - debian: the Debian 12 test guest, installed as on VMware
//   - qemu: boots under bare QEMU, and the KVM-or-TCG smoke probe
//   - libvirtd: a libvirt daemon that answers
//   - kube: etcd and kube-apiserver with the KubeVirt CRDs
//   - registry: a local docker-registry
//   - vcsim: govmomi's vCenter simulator with real disk files
//
// Each has a ...ForTest helper that starts or builds it for one test and
// cleans up after it. Dependencies go one way: qemu and debian use
// testguest; kube, libvirtd, registry and vcsim stand alone.
// The podvm-testenv command serves the same components for the demo.
package testenv
