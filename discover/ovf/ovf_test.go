package ovf

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// richOVF has two VMs in a collection, every controller and NIC type,
// assorted allocation units and VMware config keys.
const richOVF = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:href="a-disk1.vmdk" ovf:id="f1" ovf:size="100"/>
    <File ovf:href="sub/a-disk2.vmdk" ovf:id="f2"/>
    <File ovf:href="b.vmdk" ovf:id="f3"/>
  </References>
  <DiskSection>
    <Disk ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="d1" ovf:fileRef="f1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:capacity="512" ovf:capacityAllocationUnits="MegaBytes" ovf:diskId="d2" ovf:fileRef="f2"/>
    <Disk ovf:capacity="1048576" ovf:diskId="d3" ovf:fileRef="f3"/>
    <Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 10^9" ovf:diskId="empty"/>
  </DiskSection>
  <NetworkSection><Network ovf:name="VM Network"/><Network ovf:name="db"/></NetworkSection>
  <VirtualSystemCollection ovf:id="app">
    <VirtualSystem ovf:id="a">
      <Name>alpha</Name>
      <OperatingSystemSection ovf:id="103" vmw:osType="windows2019srv_64Guest"><Description>Windows Server 2019</Description></OperatingSystemSection>
      <VirtualHardwareSection>
        <System><vssd:VirtualSystemType>vmx-19 vmx-20</vssd:VirtualSystemType></System>
        <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>8</rasd:VirtualQuantity><vmw:CoresPerSocket ovf:required="false">4</vmw:CoresPerSocket></Item>
        <Item><rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>16</rasd:VirtualQuantity></Item>
        <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
        <Item><rasd:Address>1</rasd:Address><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>lsilogicsas</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
        <Item><rasd:Address>2</rasd:Address><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceSubType>buslogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
        <Item><rasd:Address>3</rasd:Address><rasd:InstanceID>6</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
        <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>7</rasd:InstanceID><rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
        <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>8</rasd:InstanceID><rasd:ResourceSubType>vmware.nvme.controller</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
        <Item><rasd:Address>1</rasd:Address><rasd:InstanceID>9</rasd:InstanceID><rasd:ResourceType>5</rasd:ResourceType></Item>
        <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>Hard disk 1</rasd:ElementName><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:InstanceID>10</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType>
          <vmw:Config ovf:required="false" vmw:key="backing.diskMode" vmw:value="independent_persistent"/></Item>
        <Item><rasd:AddressOnParent>1</rasd:AddressOnParent><rasd:ElementName>Hard disk 2</rasd:ElementName><rasd:HostResource>ovf:/disk/d2</rasd:HostResource><rasd:InstanceID>11</rasd:InstanceID><rasd:Parent>8</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
        <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>CD/DVD drive 1</rasd:ElementName><rasd:InstanceID>12</rasd:InstanceID><rasd:Parent>9</rasd:Parent><rasd:ResourceType>15</rasd:ResourceType></Item>
        <Item><rasd:Address>00:50:56:AA:00:01</rasd:Address><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Connection>VM Network</rasd:Connection><rasd:ElementName>Network adapter 1</rasd:ElementName><rasd:InstanceID>13</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
        <Item><rasd:AutomaticAllocation>false</rasd:AutomaticAllocation><rasd:Connection>db</rasd:Connection><rasd:InstanceID>14</rasd:InstanceID><rasd:ResourceSubType>E1000e</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
        <Item><rasd:Connection>db</rasd:Connection><rasd:InstanceID>15</rasd:InstanceID><rasd:ResourceSubType>E1000</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
        <Item><rasd:Connection>db</rasd:Connection><rasd:InstanceID>16</rasd:InstanceID><rasd:ResourceSubType>PCNet32</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
        <Item><rasd:Connection>db</rasd:Connection><rasd:InstanceID>17</rasd:InstanceID><rasd:ResourceSubType>VmxNet</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
        <Item><rasd:Connection>db</rasd:Connection><rasd:InstanceID>18</rasd:InstanceID><rasd:ResourceSubType>VmxNet2</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
        <Item><rasd:InstanceID>19</rasd:InstanceID><rasd:ResourceSubType>vmware.usb.xhci</rasd:ResourceSubType><rasd:ResourceType>23</rasd:ResourceType></Item>
        <Item><rasd:InstanceID>20</rasd:InstanceID><rasd:ResourceSubType>vmware.vtpm</rasd:ResourceSubType><rasd:ResourceType>1</rasd:ResourceType></Item>
        <Item><rasd:InstanceID>21</rasd:InstanceID><rasd:ResourceType>21</rasd:ResourceType></Item>
        <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
        <vmw:Config ovf:required="false" vmw:key="bootOptions.efiSecureBootEnabled" vmw:value="true"/>
        <vmw:Config ovf:required="false" vmw:key="cpuHotAddEnabled" vmw:value="true"/>
        <vmw:Config ovf:required="false" vmw:key="memoryHotAddEnabled" vmw:value="TRUE"/>
        <vmw:ExtraConfig ovf:required="false" vmw:key="numa.nodeAffinity" vmw:value="0,1"/>
      </VirtualHardwareSection>
    </VirtualSystem>
    <VirtualSystem ovf:id="b-id">
      <OperatingSystemSection ovf:id="101"/>
      <VirtualHardwareSection>
        <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>3</rasd:VirtualQuantity><vmw:CoresPerSocket>2</vmw:CoresPerSocket></Item>
        <Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
        <Item><rasd:Address>0</rasd:Address><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>5</rasd:ResourceType></Item>
        <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d3</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      </VirtualHardwareSection>
    </VirtualSystem>
  </VirtualSystemCollection>
</Envelope>
`

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRichOVF(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"rich.ovf": richOVF, "a-disk1.vmdk": "x", "sub/a-disk2.vmdk": "x", "b.vmdk": "x"})
	vms, err := ReadOVF(filepath.Join(dir, "rich.ovf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 2 {
		t.Fatalf("%d VMs", len(vms))
	}
	a, b := vms[0], vms[1]
	hw := a.Hardware
	if a.Name != "alpha" || a.Guest.GuestID != "windows2019srv_64Guest" || a.Guest.Family != "windowsGuest" || a.Source.Kind != discover.SourceOVF {
		t.Errorf("alpha %+v", a)
	}
	if hw.Version != "vmx-19" || hw.CPUs != 8 || hw.CoresPerSocket != 4 || hw.Sockets != 2 || hw.MemoryMiB != 16384 || hw.Firmware != discover.FirmwareEFI ||
		!hw.SecureBoot || !hw.VTPM || !hw.CPUHotAdd || !hw.MemoryHotAdd || hw.CDROMs != 1 {
		t.Errorf("alpha hardware %+v", hw)
	}
	var ctrl []string
	for _, c := range hw.Controllers {
		ctrl = append(ctrl, c.ID+"="+string(c.Type))
	}
	if strings.Join(ctrl, ",") != "scsi0=pvscsi,scsi1=lsisas1068,scsi2=buslogic,scsi3=lsilogic,sata0=sata,nvme0=nvme,ide1=ide" {
		t.Errorf("controllers %v", ctrl)
	}
	if len(hw.Disks) != 2 {
		t.Fatalf("disks %+v", hw.Disks)
	}
	if d := hw.Disks[0]; d.CapacityBytes != 2<<30 || d.Format != "streamOptimized" || d.Controller != "scsi0" || d.Mode != discover.DiskIndependentPersistent || d.File != filepath.Join(dir, "a-disk1.vmdk") {
		t.Errorf("disk 1 %+v", d)
	}
	if d := hw.Disks[1]; d.CapacityBytes != 512<<20 || d.Controller != "nvme0" || d.Unit != 1 || d.File != filepath.Join(dir, "sub", "a-disk2.vmdk") {
		t.Errorf("disk 2 %+v", d)
	}
	var models []string
	for _, n := range hw.NICs {
		models = append(models, n.Model)
	}
	if strings.Join(models, ",") != "vmxnet3,e1000e,e1000,vlance,vmxnet,vmxnet2" {
		t.Errorf("NIC models %v", models)
	}
	if n := hw.NICs[0]; n.MAC != "00:50:56:aa:00:01" || n.Network != "VM Network" || !n.StartConnected || n.AddressType != "static" {
		t.Errorf("NIC 1 %+v", n)
	}
	if hw.NICs[1].StartConnected {
		t.Error("NIC 2 starts connected")
	}
	if len(a.State.Devices) != 2 || len(a.State.NUMAAffinity) != 2 {
		t.Errorf("devices %+v numa %v", a.State.Devices, a.State.NUMAAffinity)
	}
	if b.Name != "b-id" || b.Guest.GuestID != "otherLinux64Guest" || b.Hardware.CPUs != 3 || b.Hardware.CoresPerSocket != 1 || b.Hardware.MemoryMiB != 1024 ||
		b.Hardware.Firmware != discover.FirmwareBIOS || len(b.Hardware.Disks) != 1 || b.Hardware.Disks[0].CapacityBytes != 1<<20 || b.Hardware.Disks[0].Controller != "ide0" {
		t.Errorf("b %+v", b)
	}
}

func TestUnitBytes(t *testing.T) {
	cases := map[string]int64{"": 1, "byte": 1, "byte * 2^20": 1 << 20, "byte*2^30": 1 << 30, "byte * 10^9": 1e9, "KiloBytes": 1024,
		"MegaBytes": 1 << 20, "GigaBytes": 1 << 30, "MB": 1 << 20, "byte * 512": 512}
	for in, want := range cases {
		if got, err := UnitBytes(in); err != nil || got != want {
			t.Errorf("UnitBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"furlongs", "byte * 2^99", "byte * x^2", "byte * 0"} {
		if _, err := UnitBytes(bad); err == nil {
			t.Errorf("UnitBytes(%q) accepted", bad)
		}
	}
}

func TestMalformedOVF(t *testing.T) {
	cases := []struct {
		name, ovf, want string
		unreadable      bool // ReadOVF fails: no VM
	}{
		{"syntax", "<Envelope>\n<References>\n<File ovf:href=\"x\">\n</Envelope>", "bad.ovf:4", true},
		{"not an envelope", "<html></html>", "not an OVF envelope", true},
		{"no systems", `<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"></Envelope>`, "no VirtualSystem", true},
		{"unknown disk", strings.Replace(richOVF, "ovf:/disk/d2", "ovf:/disk/nope", 1), `Item "11" (Hard disk 2): HostResource "ovf:/disk/nope": no such disk`, false},
		{"unknown controller", strings.Replace(richOVF, "<rasd:Parent>8</rasd:Parent>", "<rasd:Parent>99</rasd:Parent>", 1), `Parent "99": no such controller`, false},
		{"bad units", strings.Replace(richOVF, `"byte * 2^30"`, `"cubits"`, 1), `Disk "d1": allocation units "cubits"`, false},
		{"bad capacity", strings.Replace(richOVF, `ovf:capacity="2"`, `ovf:capacity="${size}"`, 1), `capacity "${size}"`, false},
		{"bad cpu count", strings.Replace(richOVF, "<rasd:VirtualQuantity>8<", "<rasd:VirtualQuantity>many<", 1), `VirtualQuantity "many"`, false},
		{"escaping href", strings.Replace(richOVF, `"a-disk1.vmdk"`, `"../../etc/passwd"`, 1), "escaping the package refused", false},
		{"absolute href", strings.Replace(richOVF, `"a-disk1.vmdk"`, `"/etc/passwd"`, 1), "absolute path refused", false},
		{"missing disk file", strings.Replace(richOVF, `"b.vmdk"`, `"gone.vmdk"`, 1), `file "gone.vmdk"`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"bad.ovf": c.ovf, "a-disk1.vmdk": "x", "sub/a-disk2.vmdk": "x", "b.vmdk": "x"})
			vms, err := ReadOVF(filepath.Join(dir, "bad.ovf"), Options{})
			if c.unreadable {
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.ovf") {
					t.Errorf("error %v: want the file name and %q", err, c.want)
				}
				return
			}
			if err != nil || len(vms) != 2 {
				t.Fatalf("%d VMs, %v: want both VMs, with a warning", len(vms), err)
			}
			w := strings.Join(append(vms[0].Warnings, vms[1].Warnings...), "\n")
			if !strings.Contains(w, c.want) || !strings.Contains(w, "bad.ovf") {
				t.Errorf("warnings %q: want the file name and %q", w, c.want)
			}
		})
	}
}

// tarEntry is one member of a hand-made OVA.
type tarEntry struct {
	name, data, link string
	typ              byte
}

func writeOVA(t *testing.T, path string, entries []tarEntry) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: typ, Linkname: e.link}
		if typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOVAMembers(t *testing.T) {
	good := []tarEntry{{name: "rich.ovf", data: richOVF}, {name: "a-disk1.vmdk", data: "x"}, {name: "sub/a-disk2.vmdk", data: "x"}, {name: "b.vmdk", data: "x"}}
	cases := []struct {
		name    string
		entries []tarEntry
		want    string // empty: must read
	}{
		{"plain", good, ""},
		{"dot-dot member", append(good[:4:4], tarEntry{name: "../evil", data: "x"}), "escaping the package refused"},
		{"absolute member", append(good[:4:4], tarEntry{name: "/etc/cron.d/x", data: "x"}), "absolute path refused"},
		{"symlink", append(good[:4:4], tarEntry{name: "link", link: "/etc/passwd", typ: tar.TypeSymlink}), "symbolic link refused"},
		{"hard link", append(good[:4:4], tarEntry{name: "hard", link: "rich.ovf", typ: tar.TypeLink}), "hard link refused"},
		{"no descriptor", good[1:], "no .ovf descriptor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.ova")
			writeOVA(t, p, c.entries)
			vms, err := ReadOVA(p, Options{})
			if c.want == "" {
				if err != nil || len(vms) != 2 || vms[0].Source.Kind != discover.SourceOVA || vms[0].Source.Member != "rich.ovf" || vms[0].Hardware.Disks[1].File != "sub/a-disk2.vmdk" {
					t.Fatalf("%v %+v", err, vms)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.ova") {
				t.Errorf("error %v: want the file name and %q", err, c.want)
			}
		})
	}
	// A missing disk member is a warning of the VM that uses it.
	p := filepath.Join(t.TempDir(), "x.ova")
	writeOVA(t, p, good[:3])
	vms, err := ReadOVA(p, Options{})
	if err != nil || len(vms) != 2 || !strings.Contains(strings.Join(vms[1].Warnings, "\n"), `file "b.vmdk": not found in the package`) {
		t.Errorf("missing member: %v, %+v", err, vms)
	}
	// Through the Source: directories and globs, with a filter.
	dir := t.TempDir()
	writeOVA(t, filepath.Join(dir, "x.ova"), good)
	vms, err = (&Source{Paths: []string{dir}}).Discover(context.Background(), discover.Options{Filter: discover.Filter{Name: "alp*"}})
	if err != nil || len(vms) != 1 {
		t.Errorf("source: %d VMs, %v", len(vms), err)
	}
}
