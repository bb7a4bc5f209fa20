package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func validate(_ context.Context, m *Machine) error {
	c := &m.Config
	if c.Image == "" {
		return fmt.Errorf("run: no image or disk given")
	}
	switch c.Accel {
	case "", "auto", AccelKVM, AccelTCG:
	default:
		return fmt.Errorf("run: accelerator %q: want auto, kvm or tcg", c.Accel)
	}
	switch c.Ready {
	case "":
		c.Ready = ReadySerial
	case ReadySerial, ReadyAgent, ReadyNone:
	default:
		return fmt.Errorf("run: readiness %q: want serial, agent or none", c.Ready)
	}
	if c.ReadyLine == "" {
		c.ReadyLine = DefaultReadyLine
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 2 * time.Minute
	}
	if c.Name != "" && !podvm.IsDNS1123Label(c.Name) {
		return fmt.Errorf("run: name %q is not a DNS-1123 label (lower case letters, digits and '-', at most 63)", c.Name)
	}
	return nil
}

// checkName fails early when the name is known; the name may still come
// from the image's spec, so prepareImage checks again.
func checkName(ctx context.Context, m *Machine) error {
	if m.Config.Name == "" {
		return nil
	}
	return m.rt.nameFree(ctx, m.Config.Name)
}

func (r *Runtime) nameFree(ctx context.Context, name string) error {
	if _, err := os.Stat(r.podDir(name)); err == nil {
		rm := r.Command("rm", name)
		if p, err := r.Get(ctx, name); err == nil && p.State == StateRunning {
			rm = r.Command("rm", "-f", name) // rm alone refuses a running pod VM
		}
		return fmt.Errorf("pod VM %s: %w (remove it with '%s' or pick another --name)", name, ErrNameTaken, rm)
	}
	if dom, err := r.conn.LookupDomainByName(DomainPrefix + name); err == nil {
		dom.Free()
		return fmt.Errorf("pod VM %s: %w: libvirt already has a domain %s%s", name, ErrNameTaken, DomainPrefix, name)
	}
	return nil
}

func prepareImage(ctx context.Context, m *Machine) error {
	c := &m.Config
	if image.IsRef(c.Image) {
		img, err := m.rt.pull(ctx, c.Image)
		if err != nil {
			return err
		}
		info := img.info
		m.imageRef, m.imageDir = c.Image, img.dir
		spec := info.Spec
		if c.Spec != nil {
			if len(c.Spec.Disks) != len(info.Disks) {
				return fmt.Errorf("run: spec %q has %d disks, image %s has %d", c.Spec.Name, len(c.Spec.Disks), c.Image, len(info.Disks))
			}
			spec = *c.Spec
		}
		spec.Disks = append([]podvm.Disk(nil), spec.Disks...)
		for i := range spec.Disks {
			if spec.Disks[i].CapacityBytes == 0 && i < len(info.Disks) {
				spec.Disks[i].CapacityBytes = info.Disks[i].VirtualSize
			}
		}
		m.spec = &spec
		m.base, m.boot = img.disks, img.boot
	} else {
		abs, err := filepath.Abs(c.Image)
		if err != nil {
			return err
		}
		format, size, err := image.DiskFormat(abs)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				hint := ""
				if strings.Contains(c.Image, ":") {
					hint = " (an image reference needs its transport: oci:DIR:TAG or docker://HOST/REPO:TAG)"
				}
				return fmt.Errorf("run: disk %s: %w%s", c.Image, ErrImageNotFound, hint)
			}
			return fmt.Errorf("run: %w", err)
		}
		if err := checkTraversable(filepath.Dir(abs)); err != nil {
			return fmt.Errorf("run: disk %s: %w", c.Image, err)
		}
		m.imageRef = abs
		if c.Spec != nil {
			s := *c.Spec
			m.spec = &s
		} else {
			s := podvm.DefaultSpec(podvm.NameFromFile(abs), size)
			m.spec = &s
		}
		if len(m.spec.Disks) != 1 {
			return fmt.Errorf("run: spec %q has %d disks but one disk file was given", m.spec.Name, len(m.spec.Disks))
		}
		m.base = []baseDisk{{path: abs, format: format}}
	}
	if c.Kernel != "" {
		// libvirt opens them from its own working folder.
		kernel, err := filepath.Abs(c.Kernel)
		if err != nil {
			return fmt.Errorf("run: kernel %s: %w", c.Kernel, err)
		}
		initrd := c.Initrd
		if initrd != "" {
			if initrd, err = filepath.Abs(initrd); err != nil {
				return fmt.Errorf("run: initrd %s: %w", c.Initrd, err)
			}
		}
		m.boot = &image.Boot{Kernel: kernel, Initrd: initrd, Cmdline: c.Cmdline}
	}
	m.spec.Disks = append([]podvm.Disk(nil), m.spec.Disks...) // the caller's spec stays untouched
	for i := range m.spec.Disks {
		if m.spec.Disks[i].CapacityBytes == 0 && i < len(m.base) && m.base[i].slice == nil {
			if _, size, err := image.DiskFormat(m.base[i].path); err == nil {
				m.spec.Disks[i].CapacityBytes = size
			}
		}
	}
	if err := m.spec.Validate(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	m.name = c.Name
	if m.name == "" {
		m.name = m.spec.Name
		if err := m.rt.nameFree(ctx, m.name); err != nil {
			return err
		}
	}
	return nil
}

func resolveAccel(ctx context.Context, m *Machine) error {
	kernel, initrd := m.rt.cfg.ProbeKernel, m.rt.cfg.ProbeInitrd
	if kernel == "" && m.boot != nil {
		kernel, initrd = m.boot.Kernel, m.boot.Initrd
	}
	v, err := m.rt.ResolveAccel(ctx, m.Config.Accel, kernel, initrd)
	if err != nil {
		return err
	}
	m.accel = v
	m.rt.cfg.Log.Debug("accelerator", "pod", m.name, "accel", v.Accel, "reason", v.Reason, "cached", v.Cached)
	return nil
}

func checkHost(_ context.Context, m *Machine) error {
	s := m.spec
	if avail, err := availableMemoryMiB(); err == nil && s.MemoryMiB+64 > avail {
		return fmt.Errorf("pod VM %s: %w: it needs %d MiB plus about 64 MiB for QEMU, the host has %d MiB available", m.name, ErrNoMemory, s.MemoryMiB, avail)
	}
	caps, err := m.rt.domainCaps(m.accel.DomainType(), machineType(s))
	if err != nil {
		return fmt.Errorf("pod VM %s: %w", m.name, err)
	}
	m.caps = caps
	if s.Firmware.Type == podvm.FirmwareEFI {
		o, err := findOVMF(m.rt.cfg.OVMFDir, m.caps, s.Firmware.SecureBoot)
		if err != nil {
			return fmt.Errorf("pod VM %s: %w", m.name, err)
		}
		m.ovmf = o
	}
	if m.Config.Fast && (m.boot == nil || m.boot.Kernel == "") {
		return fmt.Errorf("pod VM %s: %w: --fast boots the kernel directly, but image %s carries none (build it with --kernel, or pass --kernel)", m.name, ErrUnsatisfiable, m.Config.Image)
	}
	return nil
}

func createOverlays(ctx context.Context, m *Machine) error {
	m.dir = m.rt.podDir(m.name)
	if err := os.Mkdir(m.dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pod VM %s: %w", m.name, ErrNameTaken)
		}
		return fmt.Errorf("pod VM %s: %w", m.name, err)
	}
	m.createdDir = true
	for i, b := range m.base {
		ov := filepath.Join(m.dir, m.spec.Disks[i].Name+".qcow2")
		backing, err := b.backingName()
		if err != nil {
			return fmt.Errorf("pod VM %s: overlay on %s: %w", m.name, b.path, err)
		}
		cmd := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", b.format, "-b", backing, ov)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pod VM %s: overlay on %s: %w: %s", m.name, b.path, err, strings.TrimSpace(string(out)))
		}
		m.overlays = append(m.overlays, ov)
	}
	return nil
}

func startDomain(_ context.Context, m *Machine) error {
	p := domainParams{
		Domain:  DomainPrefix + m.name,
		Type:    m.accel.DomainType(),
		Spec:    m.spec,
		Disks:   m.overlays,
		Bases:   m.base,
		OVMF:    m.ovmf,
		NVRAM:   filepath.Join(m.dir, "VARS.fd"),
		Serial:  filepath.Join(m.dir, "serial.log"),
		Publish: m.Config.Publish,
	}
	if m.caps != nil {
		p.Emulator = m.caps.Emulator
	}
	// Keep the source VM's SMBIOS UUID (licences may be tied to it), unless
	// another domain has it (see createDomain).
	p.UUID = m.spec.Source.BIOSUUID
	if m.Config.Fast {
		p.Kernel, p.Initrd, p.Cmdline = m.boot.Kernel, m.boot.Initrd, m.boot.Cmdline
		if p.Cmdline == "" {
			p.Cmdline = "console=ttyS0"
		}
		// qboot only loads the kernel QEMU hands it: much less firmware to
		// run than SeaBIOS, which under TCG is a visible share of the boot.
		if m.spec.Firmware.Type == podvm.FirmwareBIOS && fileExists(QbootROM) {
			p.BIOSROM = QbootROM
		}
	}
	started := time.Now().UTC()
	p.Meta = podMeta{Name: m.name, Image: m.imageRef, Accel: m.accel.Accel, Reason: m.accel.Reason,
		Started: started.Format(time.RFC3339Nano), State: m.rt.cfg.StateDir}
	m.pod = &PodVM{Name: m.name, Domain: p.Domain, Image: m.imageRef, ImageDir: m.imageDir,
		Accel: m.accel.Accel, AccelReason: m.accel.Reason, Started: started, SerialLog: p.Serial,
		Publish: m.Config.Publish, Overlays: m.overlays, Fast: m.Config.Fast, Spec: *m.spec, Dir: m.dir}
	if err := m.pod.save(); err != nil {
		return err
	}
	dom, err := m.createDomain(p)
	if err != nil {
		return err
	}
	m.dom = dom
	m.pod.State = StateRunning
	return nil
}

// createDomain writes the domain's XML beside the pod VM and starts it. A
// source SMBIOS UUID another domain holds (a second copy of one VM, or a
// domain defined between any check and this start) is dropped, with a
// warning, and libvirt picks a new one.
func (m *Machine) createDomain(p domainParams) (*libvirt.Domain, error) {
	for {
		x, err := domainXMLFor(p)
		if err != nil {
			return nil, err
		}
		m.domainXML = x
		if err := os.WriteFile(filepath.Join(m.dir, "domain.xml"), []byte(x), 0o644); err != nil {
			return nil, err
		}
		dom, err := m.rt.conn.DomainCreateXML(x, libvirt.DOMAIN_NONE)
		if err == nil {
			return dom, nil
		}
		if p.UUID != "" {
			if d, lerr := m.rt.conn.LookupDomainByUUIDString(p.UUID); lerr == nil {
				name, _ := d.GetName()
				d.Free()
				if name != p.Domain {
					m.rt.cfg.Log.Warn("SMBIOS UUID in use by another domain; libvirt picks a new one", "pod", m.name, "uuid", p.UUID, "domain", name)
					p.UUID = ""
					continue
				}
			}
		}
		var lerr libvirt.Error
		if errors.As(err, &lerr) && lerr.Code == libvirt.ERR_DOM_EXIST {
			return nil, fmt.Errorf("pod VM %s: %w: %v", m.name, ErrNameTaken, err)
		}
		return nil, fmt.Errorf("pod VM %s: start domain %s: %w", m.name, p.Domain, err)
	}
}

func waitReady(ctx context.Context, m *Machine) error {
	if !m.Config.WaitReady || m.Config.Ready == ReadyNone {
		return nil
	}
	line, after, err := m.rt.waitReady(ctx, m.dom, m.pod, m.Config)
	if err != nil {
		return err
	}
	m.pod.ReadyLine, m.pod.ReadyAfter = line, Duration(after)
	return m.pod.save()
}

// save writes the pod VM's record.
func (p *PodVM) save() error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(p.Dir, "pod.json"), b, 0o644); err != nil {
		return fmt.Errorf("pod VM %s: record: %w", p.Name, err)
	}
	return nil
}
