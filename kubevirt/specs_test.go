package kubevirt

import (
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// testSpecs are pod VMs with every feature the mapping handles: an EFI
// secure-boot VM with a vTPM, a large data disk on a storage class, a pod
// and a Multus NIC; and a BIOS VM in compatibility mode (SATA, e1000e).
func testSpecs() []podvm.Spec {
	return []podvm.Spec{
		{
			Name: "web01",
			Source: podvm.SourceRef{
				VCenter: "vc.example.com", Moref: "vm-42", InstanceUUID: "5012a3b4-c5d6-47e8-9f01-23456789abcd",
				BIOSUUID: "4212A3B4-C5D6-47E8-9F01-23456789ABCD", Name: "Web 01",
			},
			Guest:     podvm.Guest{OSID: "debian12_64Guest", Family: "linux", Hostname: "web01"},
			Firmware:  podvm.Firmware{Type: podvm.FirmwareEFI, SecureBoot: true, SMM: true},
			TPM:       true,
			CPU:       podvm.CPU{Sockets: 2, Cores: 2, Threads: 1},
			MemoryMiB: 4096,
			Mode:      podvm.ModeVirtio,
			Disks: []podvm.Disk{
				{Name: "disk0", Bus: podvm.BusVirtio, CapacityBytes: 16 << 30, Source: "[datastore1] web01/web01.vmdk", File: "disk0.qcow2", Cache: "none"},
				{Name: "disk1", Bus: podvm.BusSCSI, CapacityBytes: 100 << 30, Source: "[datastore2] web01/web01_1.vmdk", StorageClass: "fast-ssd"},
			},
			NICs: []podvm.NIC{
				{Name: "nic0", Model: podvm.NICVirtio, MAC: "00:50:56:AA:BB:01", Network: "pod"},
				{Name: "nic1", Model: podvm.NICVirtio, MAC: "00:50:56:aa:bb:02", Network: "prod/vlan100"},
			},
		},
		{
			Name:      "legacy-db",
			Source:    podvm.SourceRef{VCenter: "vc.example.com", Moref: "vm-7", InstanceUUID: "50aaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", Name: "legacy-db"},
			Guest:     podvm.Guest{OSID: "windows9Server64Guest", Family: "windows"},
			Firmware:  podvm.Firmware{Type: podvm.FirmwareBIOS},
			CPU:       podvm.CPU{Sockets: 1, Cores: 4, Threads: 2},
			MemoryMiB: 8192,
			Mode:      podvm.ModeCompat,
			Disks: []podvm.Disk{
				{Name: "disk0", Bus: podvm.BusSATA, CapacityBytes: 40 << 30, Source: "[datastore1] legacy-db/legacy-db.vmdk"},
			},
			NICs: []podvm.NIC{{Name: "nic0", Model: podvm.NICE1000E, MAC: "00:50:56:aa:bb:03", Network: "pod"}},
		},
	}
}

// testOptions put the pod VM images in a registry, disks from 20 GiB on
// DataVolumes.
func testOptions(ns string) Options {
	return Options{Namespace: ns, RunStrategy: "Always", Registry: "registry.example.com/podvms", Tag: "v1", DefaultStorageClass: "standard"}
}
