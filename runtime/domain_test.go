package runtime

import (
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func TestDomainXML(t *testing.T) {
	base := func(mut func(s *podvm.Spec, p *domainParams)) domainParams {
		s := podvm.DefaultSpec("web01", 1<<30)
		p := domainParams{Domain: "podvm-web01", Type: "qemu", Spec: &s, Disks: []string{"/s/pods/web01/disk0.qcow2"},
			Serial: "/s/pods/web01/serial.log", NVRAM: "/s/pods/web01/VARS.fd",
			Meta: podMeta{Name: "web01", Image: "oci:/i:v1", Accel: "tcg", Reason: "a <reason> & more"}}
		mut(&s, &p)
		return p
	}
	cases := []struct {
		name    string
		p       domainParams
		want    []string
		notWant []string
	}{
		{"bios virtio tcg", base(func(*podvm.Spec, *domainParams) {}),
			[]string{`type="qemu"`, `machine="q35"`, `bus="virtio"`, `<boot order="1">`, `<interface type="user">`, `<model type="virtio">`,
				`<on_poweroff>destroy</on_poweroff>`, `<memballoon model="none">`, `<pod xmlns="` + MetadataNS + `">`, `a &lt;reason&gt; &amp; more`,
				`<serial type="file">`, `slot="0x02"`},
			[]string{"<loader", "host-passthrough", "smm", "commandline", "<kernel>", "<emulator>"}},
		{"an overlay on a slice of the image's layer", base(func(_ *podvm.Spec, p *domainParams) {
			p.Bases = []baseDisk{{path: "/s/images/abc/layer", format: "qcow2", slice: &image.Extent{Offset: 3072, Size: 1 << 20}}}
		}), []string{`<backingStore type="file">`, `<format type="qcow2">`, `<source file="/s/images/abc/layer">`,
			`<seclabel model="dac" relabel="no">`, `<slice type="storage" offset="3072" size="1048576">`}, nil},
		{"an overlay on a whole file names no backingStore", base(func(_ *podvm.Spec, p *domainParams) {
			p.Bases = []baseDisk{{path: "/s/images/abc/disk0.qcow2", format: "qcow2"}}
		}), nil, []string{"backingStore", "slice"}},
		{"the emulator libvirt's domain capabilities name", base(func(_ *podvm.Spec, p *domainParams) { p.Emulator = "/usr/libexec/qemu-kvm" }),
			[]string{`<emulator>/usr/libexec/qemu-kvm</emulator>`}, nil},
		{"kvm uses the host CPU", base(func(_ *podvm.Spec, p *domainParams) { p.Type = "kvm" }),
			[]string{`type="kvm"`, `mode="host-passthrough"`}, nil},
		{"efi secure boot", base(func(s *podvm.Spec, p *domainParams) {
			s.Firmware = podvm.Firmware{Type: podvm.FirmwareEFI, SecureBoot: true}
			p.OVMF = &ovmf{Code: "/o/OVMF_CODE_4M.secboot.fd", Vars: "/o/OVMF_VARS_4M.ms.fd", Secure: true}
		}), []string{`secure="yes"`, `OVMF_CODE_4M.secboot.fd`, `template="/o/OVMF_VARS_4M.ms.fd"`, `<smm state="on">`, `VARS.fd</nvram>`}, nil},
		{"compat: sata and e1000e with the source MAC", base(func(s *podvm.Spec, _ *domainParams) {
			s.Disks[0].Bus, s.NICs[0].Model, s.NICs[0].MAC = podvm.BusSATA, podvm.NICE1000E, "00:50:56:AA:BB:CC"
		}), []string{`dev="sda" bus="sata"`, `<model type="e1000e">`, `address="00:50:56:aa:bb:cc"`}, nil},
		{"ide becomes sata on q35", base(func(s *podvm.Spec, _ *domainParams) { s.Disks[0].Bus = podvm.BusIDE }),
			[]string{`bus="sata"`}, []string{`bus="ide"`}},
		{"ide stays on pc", base(func(s *podvm.Spec, _ *domainParams) { s.Disks[0].Bus, s.MachineType = podvm.BusIDE, "pc" }),
			[]string{`dev="hda" bus="ide"`, `machine="pc"`}, nil},
		{"scsi gets a virtio-scsi controller", base(func(s *podvm.Spec, _ *domainParams) { s.Disks[0].Bus = podvm.BusSCSI }),
			[]string{`model="virtio-scsi"`, `bus="scsi"`}, nil},
		{"topology and memory", base(func(s *podvm.Spec, _ *domainParams) {
			s.CPU, s.MemoryMiB = podvm.CPU{Sockets: 2, Cores: 2, Threads: 2}, 2048
		}),
			[]string{`<vcpu>8</vcpu>`, `sockets="2" dies="1" cores="2" threads="2"`, `<memory unit="MiB">2048</memory>`}, nil},
		{"published ports go through QEMU's user networking", base(func(s *podvm.Spec, p *domainParams) {
			s.NICs[0].MAC = "00:50:56:01:02:03"
			p.Publish = []PortForward{{Proto: "tcp", HostPort: 8080, GuestPort: 80}, {Proto: "udp", HostAddr: "127.0.0.1", HostPort: 5353, GuestPort: 53}}
		}), []string{`<commandline xmlns="http://libvirt.org/schemas/domain/qemu/1.0">`, `hostfwd=tcp::8080-:80,hostfwd=udp:127.0.0.1:5353-:53`,
			`virtio-net-pci,netdev=podvmnet0,bus=pcie.0,addr=0x10,mac=00:50:56:01:02:03`}, []string{`<interface`}},
		{"direct kernel boot", base(func(_ *podvm.Spec, p *domainParams) { p.Kernel, p.Initrd, p.Cmdline = "/k", "/i", "console=ttyS0" }),
			[]string{`<kernel>/k</kernel>`, `<initrd>/i</initrd>`, `<cmdline>console=ttyS0</cmdline>`}, []string{`<boot order`}},
		{"qboot for a direct kernel boot", base(func(_ *podvm.Spec, p *domainParams) { p.Kernel, p.BIOSROM = "/k", "/q/qboot.rom" }),
			[]string{`<loader readonly="yes" type="rom">/q/qboot.rom</loader>`}, []string{`secure=`}},
		{"agent channel, whatever the readiness", base(func(*podvm.Spec, *domainParams) {}),
			[]string{`name="org.qemu.guest_agent.0"`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := domainXMLFor(c.p)
			if err != nil {
				t.Fatal(err)
			}
			var d libvirtxml.Domain
			if err := d.Unmarshal(x); err != nil {
				t.Fatalf("not a domain: %v\n%s", err, x)
			}
			if d.Metadata == nil {
				t.Fatalf("no metadata\n%s", x)
			}
			m, err := parseMeta(d.Metadata.XML)
			if m.XMLName = c.p.Meta.XMLName; err != nil || m != c.p.Meta {
				t.Errorf("metadata reads back as %+v, %v; want %+v", m, err, c.p.Meta)
			}
			for _, w := range c.want {
				if !strings.Contains(x, w) {
					t.Errorf("lacks %s\n%s", w, x)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(x, w) {
					t.Errorf("has %s\n%s", w, x)
				}
			}
		})
	}
	s := podvm.DefaultSpec("x", 1)
	s.Firmware.Type = podvm.FirmwareEFI
	if _, err := domainXMLFor(domainParams{Domain: "d", Type: "qemu", Spec: &s, Disks: []string{"/d"}}); err == nil {
		t.Error("efi without firmware rendered")
	}
}

func TestParsePublish(t *testing.T) {
	cases := []struct {
		in   string
		want PortForward
		err  bool
	}{
		{"8080:80", PortForward{Proto: "tcp", HostPort: 8080, GuestPort: 80}, false},
		{"127.0.0.1:2222:22", PortForward{Proto: "tcp", HostAddr: "127.0.0.1", HostPort: 2222, GuestPort: 22}, false},
		{"[::1]:2222:22/tcp", PortForward{Proto: "tcp", HostAddr: "::1", HostPort: 2222, GuestPort: 22}, false},
		{"5353:53/udp", PortForward{Proto: "udp", HostPort: 5353, GuestPort: 53}, false},
		{"80", PortForward{}, true},
		{"0:80", PortForward{}, true},
		{"8080:70000", PortForward{}, true},
		{"host:8080:80", PortForward{}, true},
		{"8080:80/sctp", PortForward{}, true},
	}
	for _, c := range cases {
		got, err := ParsePublish(c.in)
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("ParsePublish(%q) = %+v, %v", c.in, got, err)
		}
	}
}
