package runtime

import (
	"slices"
	"testing"
)

// rhelCaps is the part of a RHEL 9 host's domain capabilities we read.
const rhelCaps = `<domainCapabilities>
  <path>/usr/libexec/qemu-kvm</path>
  <domain>kvm</domain>
  <machine>pc-q35-rhel9.4.0</machine>
  <arch>x86_64</arch>
  <os supported='yes'>
    <enum name='firmware'><value>efi</value></enum>
    <loader supported='yes'>
      <value>/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd</value>
      <value>/usr/share/edk2/ovmf/OVMF_CODE.fd</value>
      <enum name='type'><value>rom</value><value>pflash</value></enum>
      <enum name='readonly'><value>yes</value><value>no</value></enum>
      <enum name='secure'><value>yes</value><value>no</value></enum>
    </loader>
  </os>
</domainCapabilities>`

func TestParseCaps(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want hostCaps
	}{
		{"rhel", rhelCaps, hostCaps{Emulator: "/usr/libexec/qemu-kvm",
			Loaders: []string{"/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd", "/usr/share/edk2/ovmf/OVMF_CODE.fd"}, SecureLoader: true}},
		{"pc machine without secure loaders", `<domainCapabilities><path>/usr/bin/qemu-system-x86_64</path><os supported='yes'>
			<loader supported='yes'><value>/usr/share/OVMF/OVMF_CODE_4M.fd</value><enum name='secure'><value>no</value></enum></loader></os></domainCapabilities>`,
			hostCaps{Emulator: "/usr/bin/qemu-system-x86_64", Loaders: []string{"/usr/share/OVMF/OVMF_CODE_4M.fd"}}},
		{"no loaders", `<domainCapabilities><path>/usr/bin/qemu-system-x86_64</path></domainCapabilities>`,
			hostCaps{Emulator: "/usr/bin/qemu-system-x86_64"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseCaps(c.doc)
			if err != nil {
				t.Fatal(err)
			}
			if got.Emulator != c.want.Emulator || !slices.Equal(got.Loaders, c.want.Loaders) || got.SecureLoader != c.want.SecureLoader {
				t.Errorf("got %+v, want %+v", *got, c.want)
			}
		})
	}
	if _, err := parseCaps("not xml"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestDomainCapsFromLibvirt(t *testing.T) {
	f := setup(t)
	c, err := f.rt.domainCaps("qemu", "q35")
	if err != nil {
		t.Fatal(err)
	}
	if c.Emulator == "" {
		t.Error("libvirt names no emulator")
	}
	again, err := f.rt.domainCaps("qemu", "q35")
	if err != nil || again != c {
		t.Errorf("asked libvirt twice: %p, %p, %v", c, again, err)
	}
	t.Logf("emulator %s, loaders %v, secure %v", c.Emulator, c.Loaders, c.SecureLoader)
}
