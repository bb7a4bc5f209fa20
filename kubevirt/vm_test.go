package kubevirt

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	kubevirtv1 "kubevirt.io/api/core/v1"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func TestBuildMapsEveryField(t *testing.T) {
	m, err := BuildAll(testSpecs(), testOptions("migrated"))
	if err != nil {
		t.Fatal(err)
	}
	web, db := m.PodVMs[0], m.PodVMs[1]
	wvm, wd := web.VM, web.VM.Spec.Template.Spec.Domain
	dvm, dd := db.VM, db.VM.Spec.Template.Spec.Domain
	gi := func(n int64) string { return resource.NewQuantity(n<<30, resource.BinarySI).String() }

	checks := []struct {
		name      string
		got, want any
	}{
		{"namespace", wvm.Namespace, "migrated"},
		{"run strategy", string(*wvm.Spec.RunStrategy), "Always"},
		{"cpu", [3]uint32{wd.CPU.Sockets, wd.CPU.Cores, wd.CPU.Threads}, [3]uint32{2, 2, 1}},
		{"compat cpu", [3]uint32{dd.CPU.Sockets, dd.CPU.Cores, dd.CPU.Threads}, [3]uint32{1, 4, 2}},
		{"memory guest", wd.Memory.Guest.String(), "4Gi"},
		{"memory request", wd.Resources.Requests.Memory().String(), "4Gi"},
		{"efi", wd.Firmware.Bootloader.EFI != nil && wd.Firmware.Bootloader.BIOS == nil, true},
		{"secure boot", *wd.Firmware.Bootloader.EFI.SecureBoot, true},
		{"persistent efi with tpm", *wd.Firmware.Bootloader.EFI.Persistent, true},
		{"smm", *wd.Features.SMM.Enabled, true},
		{"tpm", *wd.Devices.TPM.Persistent, true},
		{"smbios uuid", string(wd.Firmware.UUID), "4212a3b4-c5d6-47e8-9f01-23456789abcd"},
		{"bios", dd.Firmware.Bootloader.BIOS != nil && dd.Firmware.Bootloader.EFI == nil, true},
		{"no smm on bios", dd.Features == nil, true},
		{"no tpm", dd.Devices.TPM == nil, true},
		{"boot disk", *wd.Devices.Disks[0].BootOrder, uint(1)},
		{"second disk not in boot order", wd.Devices.Disks[1].BootOrder == nil, true},
		{"disk0 bus", wd.Devices.Disks[0].Disk.Bus, kubevirtv1.DiskBus("virtio")},
		{"disk1 bus", wd.Devices.Disks[1].Disk.Bus, kubevirtv1.DiskBus("scsi")},
		{"disk cache", wd.Devices.Disks[0].Cache, kubevirtv1.CacheNone},
		{"compat disk bus", dd.Devices.Disks[0].Disk.Bus, kubevirtv1.DiskBus("sata")},
		{"container disk image", wvm.Spec.Template.Spec.Volumes[0].ContainerDisk.Image, "registry.example.com/podvms/web01:v1"},
		{"container disk path", wvm.Spec.Template.Spec.Volumes[0].ContainerDisk.Path, "/disk/disk0.qcow2"},
		{"large disk on a DataVolume", wvm.Spec.Template.Spec.Volumes[1].DataVolume.Name, "web01-disk1"},
		{"compat 40Gi disk on a DataVolume", dvm.Spec.Template.Spec.Volumes[0].DataVolume.Name, "legacy-db-disk0"},
		{"data volumes", len(web.DataVolumes) + len(db.DataVolumes), 2},
		{"dv size", web.DataVolumes[0].Spec.Storage.Resources.Requests.Storage().String(), gi(100)},
		{"dv storage class from the storage map", *web.DataVolumes[0].Spec.Storage.StorageClassName, "fast-ssd"},
		{"dv default storage class", *db.DataVolumes[0].Spec.Storage.StorageClassName, "standard"},
		{"dv blank source", web.DataVolumes[0].Spec.Source.Blank != nil, true},
		{"dv disk source", web.DataVolumes[0].Annotations[AnnoDiskSource], "[datastore2] web01/web01_1.vmdk"},
		{"nic0 model", wd.Devices.Interfaces[0].Model, "virtio"},
		{"nic0 mac", wd.Devices.Interfaces[0].MacAddress, "00:50:56:aa:bb:01"},
		{"nic0 masquerade on the pod network", wd.Devices.Interfaces[0].Masquerade != nil && wvm.Spec.Template.Spec.Networks[0].Pod != nil, true},
		{"nic1 bridge on multus", wd.Devices.Interfaces[1].Bridge != nil, true},
		{"nic1 multus network", wvm.Spec.Template.Spec.Networks[1].Multus.NetworkName, "prod/vlan100"},
		{"compat nic model", dd.Devices.Interfaces[0].Model, "e1000e"},
		{"hostname", wvm.Spec.Template.Spec.Hostname, "web01"},
		{"label moref", wvm.Labels[LabelMoref], "vm-42"},
		{"label instance uuid", wvm.Labels[LabelInstanceID], "5012a3b4-c5d6-47e8-9f01-23456789abcd"},
		{"label vcenter", wvm.Labels[LabelVCenter], "vc.example.com"},
		{"label managed-by", wvm.Labels[LabelManagedBy], ManagedBy},
		{"template label", wvm.Spec.Template.ObjectMeta.Labels["kubevirt.io/vm"], "web01"},
		{"annotation source name", wvm.Annotations[AnnoSourceName], "Web 01"},
		{"annotation bios uuid", wvm.Annotations[AnnoBIOSUUID], "4212A3B4-C5D6-47E8-9F01-23456789ABCD"},
		{"annotation guest os", dvm.Annotations[AnnoGuestOS], "windows9Server64Guest"},
		{"dv labels", web.DataVolumes[0].Labels[LabelDisk] + " " + web.DataVolumes[0].Labels[LabelMoref], "disk1 vm-42"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestBuildNotesAndErrors(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*podvm.Spec)
		opts     func(*Options)
		wantErr  string
		wantNote string
	}{
		{name: "ide becomes sata", edit: func(s *podvm.Spec) { s.Disks[0].Bus = podvm.BusIDE }, wantNote: "no IDE bus"},
		{name: "pc becomes q35", edit: func(s *podvm.Spec) { s.MachineType = "pc" }, wantNote: "q35 is used"},
		{name: "no registry", opts: func(o *Options) { o.Registry = "" }, wantNote: "no pod VM image reference"},
		{name: "two pod NICs", edit: func(s *podvm.Spec) { s.NICs[1].Network = "pod" }, wantErr: "only one NIC can use the pod network"},
		{name: "a libvirt network is runtime-only", edit: func(s *podvm.Spec) { s.NICs[0].Network = "libvirt:default" },
			wantErr: `network "libvirt:default" is for the included runtime only`},
		{name: "a host bridge is runtime-only", edit: func(s *podvm.Spec) { s.NICs[1].Network = "bridge:br0" },
			wantErr: `network "bridge:br0" is for the included runtime only`},
		{name: "invalid spec", edit: func(s *podvm.Spec) { s.CPU.Cores = 0 }, wantErr: "cpu"},
		{name: "bad run strategy", opts: func(o *Options) { o.RunStrategy = "Sometimes" }, wantErr: `run strategy "Sometimes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpecs()[0]
			o := testOptions("default")
			if tt.edit != nil {
				tt.edit(&s)
			}
			if tt.opts != nil {
				tt.opts(&o)
			}
			objs, err := Build(&s, o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want an error with %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(objs.Notes, "\n"), tt.wantNote) {
				t.Errorf("notes %q lack %q", objs.Notes, tt.wantNote)
			}
		})
	}
}

func TestWriteYAML(t *testing.T) {
	m, err := BuildAll(testSpecs(), testOptions("default"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(buf.String(), "\n---\n")
	kinds := []string{}
	for _, d := range docs {
		for _, line := range strings.Split(d, "\n") {
			if strings.HasPrefix(line, "kind: ") {
				kinds = append(kinds, strings.TrimPrefix(line, "kind: "))
			}
		}
	}
	want := "DataVolume VirtualMachine DataVolume VirtualMachine"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("kinds %q, want %q", got, want)
	}
}

func TestBuildAllKeepsGoingButNotSilently(t *testing.T) {
	good, bad := testSpecs()[1], testSpecs()[0]
	bad.NICs[1].Network = "pod"
	m, err := BuildAll([]podvm.Spec{bad, good}, testOptions("default"))
	if err != nil || len(m.PodVMs) != 1 || len(m.Failed) != 1 || m.Failed[0].Name != "web01" {
		t.Fatalf("one good, one bad: %v, %+v", err, m)
	}
	if _, err := BuildAll([]podvm.Spec{bad}, testOptions("default")); err == nil || !strings.Contains(err.Error(), "only one NIC can use the pod network") {
		t.Fatalf("only a bad spec: want its error, got %v", err)
	}
}
