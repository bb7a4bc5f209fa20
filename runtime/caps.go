package runtime

import (
	"fmt"
	"slices"
	"sync"

	"libvirt.org/go/libvirtxml"
)

// hostCaps is what libvirt's domain capabilities say about one domain type
// and machine on this host.
type hostCaps struct {
	Emulator     string   // the QEMU binary libvirt runs (/usr/libexec/qemu-kvm on RHEL)
	Loaders      []string // firmware images libvirt knows for the machine (OVMF code)
	SecureLoader bool     // a loader can be secure (secure boot)
}

// parseCaps reads virConnectGetDomainCapabilities' answer.
func parseCaps(doc string) (*hostCaps, error) {
	var dc libvirtxml.DomainCaps
	if err := dc.Unmarshal(doc); err != nil {
		return nil, err
	}
	c := &hostCaps{Emulator: dc.Path}
	if dc.OS != nil && dc.OS.Loader != nil && dc.OS.Loader.Supported != "no" {
		c.Loaders = dc.OS.Loader.Values
		for _, e := range dc.OS.Loader.Enums {
			if e.Name == "secure" && slices.Contains(e.Values, "yes") {
				c.SecureLoader = true
			}
		}
	}
	return c, nil
}

// capsCache keeps the domain capabilities per domain type and machine: they
// do not change while a runtime lives.
type capsCache struct {
	mu sync.Mutex
	m  map[[2]string]*hostCaps
}

// domainCaps asks libvirt, once per runtime, what an x86_64 domain of type
// virtType (kvm | qemu) on machine gets on this host. It fails when libvirt
// does not offer that domain type (no usable KVM for kvm).
func (r *Runtime) domainCaps(virtType, machine string) (*hostCaps, error) {
	r.caps.mu.Lock()
	defer r.caps.mu.Unlock()
	key := [2]string{virtType, machine}
	if c, ok := r.caps.m[key]; ok {
		return c, nil
	}
	doc, err := r.conn.GetDomainCapabilities("", "x86_64", machine, virtType, 0)
	if err != nil {
		return nil, fmt.Errorf("domain capabilities of %s domains on machine %s: %w", virtType, machine, err)
	}
	c, err := parseCaps(doc)
	if err != nil {
		return nil, fmt.Errorf("domain capabilities of %s domains on machine %s: %w", virtType, machine, err)
	}
	if r.caps.m == nil {
		r.caps.m = map[[2]string]*hostCaps{}
	}
	r.caps.m[key] = c
	return c, nil
}
