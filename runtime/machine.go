package runtime

import (
	"context"
	"fmt"
	"os"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Readiness signals a pod VM can be waited for.
const (
	ReadySerial = "serial" // a line on the serial console (default PODVM-READY)
	ReadyAgent  = "agent"  // qemu-guest-agent answers guest-ping
	ReadyNone   = "none"
)

// DefaultReadyLine is what the test guest prints when it is up.
const DefaultReadyLine = "PODVM-READY"

// MachineConfig is one pod VM to run.
type MachineConfig struct {
	Name    string      // pod VM name (DNS-1123); default the spec's name
	Image   string      // oci:DIR:TAG, docker://HOST/REPO:TAG, or a qcow2/raw/vmdk file
	Spec    *podvm.Spec // required shape for a disk file (default podvm.DefaultSpec); replaces an image's spec
	Publish []PortForward
	// Network, when set, puts every NIC on it instead of the network its
	// spec names: libvirt:NAME, bridge:NAME or user.
	Network string
	Accel   string // auto (default) | kvm | tcg
	// Fast boots the kernel directly (the image's, or Kernel/Initrd/Cmdline)
	// instead of through firmware and the boot loader.
	Fast                    bool
	Kernel, Initrd, Cmdline string
	Ready                   string        // serial (default) | agent | none
	ReadyLine               string        // default PODVM-READY
	WaitReady               bool          // Start returns only once the guest is ready
	ReadyTimeout            time.Duration // default 2 minutes
}

// Handler is one named step of starting a machine.
type Handler struct {
	Name string
	Fn   func(ctx context.Context, m *Machine) error
}

// Handlers is the ordered start-up of a machine; callers may change it.
type Handlers []Handler

// Names of the default start-up handlers, in order.
const (
	ValidateHandler       = "validate"
	CheckNameHandler      = "check-name"
	PrepareImageHandler   = "prepare-image"
	ResolveAccelHandler   = "resolve-accel"
	CheckHostHandler      = "check-host"
	CreateOverlaysHandler = "create-overlays"
	StartDomainHandler    = "start-domain"
	WaitReadyHandler      = "wait-ready"
)

// DefaultHandlers is the start-up every machine gets unless changed.
func DefaultHandlers() Handlers {
	return Handlers{
		{ValidateHandler, validate},
		{CheckNameHandler, checkName},
		{PrepareImageHandler, prepareImage},
		{ResolveAccelHandler, resolveAccel},
		{CheckHostHandler, checkHost},
		{PrepareNetworksHandler, prepareNetworks},
		{CreateOverlaysHandler, createOverlays},
		{StartDomainHandler, startDomain},
		{WaitReadyHandler, waitReady},
	}
}

// Remove returns the handlers without the named one.
func (h Handlers) Remove(name string) Handlers {
	var out Handlers
	for _, x := range h {
		if x.Name != name {
			out = append(out, x)
		}
	}
	return out
}

// Append returns the handlers with more at the end.
func (h Handlers) Append(more ...Handler) Handlers {
	return append(append(Handlers{}, h...), more...)
}

// InsertBefore returns the handlers with x placed before the named one
// (at the end when there is none).
func (h Handlers) InsertBefore(name string, x Handler) Handlers {
	var out Handlers
	done := false
	for _, y := range h {
		if y.Name == name && !done {
			out, done = append(out, x), true
		}
		out = append(out, y)
	}
	if !done {
		out = append(out, x)
	}
	return out
}

// Machine is one pod VM being started: its config, its start-up handlers
// and what they found out.
type Machine struct {
	Config   MachineConfig
	Handlers Handlers

	rt         *Runtime
	name       string
	spec       *podvm.Spec
	imageRef   string
	imageDir   string // the image's store folder, or "" for a disk file
	base       []baseDisk
	boot       *image.Boot // kernel paths are absolute here
	accel      *AccelVerdict
	caps       *hostCaps // libvirt's domain capabilities for the accelerator and machine
	ovmf       *ovmf
	dir        string
	createdDir bool
	overlays   []string
	domainXML  string
	dom        *libvirt.Domain
	pod        *PodVM
}

// baseDisk is a read-only disk an overlay sits on: a file, or a slice of
// one (a disk where it lies in an image's layer).
type baseDisk struct {
	path, format string
	slice        *image.Extent // nil: the whole file
}

// MachineOpt changes a machine before it starts.
type MachineOpt func(*Machine)

// WithHandlers replaces the start-up handlers.
func WithHandlers(h Handlers) MachineOpt { return func(m *Machine) { m.Handlers = h } }

// NewMachine builds a machine from a config; Start runs it.
func (r *Runtime) NewMachine(cfg MachineConfig, opts ...MachineOpt) *Machine {
	m := &Machine{Config: cfg, Handlers: DefaultHandlers(), rt: r}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Start runs the handlers in order. When one fails before the domain runs,
// everything made so far is removed.
func (m *Machine) Start(ctx context.Context) (*PodVM, error) {
	defer func() {
		if m.dom != nil {
			m.dom.Free()
		}
	}()
	for _, h := range m.Handlers {
		start := time.Now()
		if err := h.Fn(ctx, m); err != nil {
			if m.dom == nil && m.createdDir {
				os.RemoveAll(m.dir)
			}
			return m.pod, err
		}
		m.rt.cfg.Log.Debug("handler done", "pod", m.name, "handler", h.Name, "took", time.Since(start))
	}
	if m.pod != nil && m.dom != nil {
		m.pod.Addresses = m.rt.addresses(m.pod)
		m.pod.Uptime = Duration(time.Since(m.pod.Started))
	}
	return m.pod, nil
}

// Pod is the pod VM once the start-domain handler made it (nil before):
// a handler added after it can say what was started.
func (m *Machine) Pod() *PodVM { return m.pod }

// XML is the domain XML the machine was started with.
func (m *Machine) XML() string { return m.domainXML }

// Run builds a machine from cfg with the default handlers and starts it.
func (r *Runtime) Run(ctx context.Context, cfg MachineConfig) (*PodVM, error) {
	return r.NewMachine(cfg).Start(ctx)
}

func errorf(name, format string, a ...any) error {
	return fmt.Errorf("pod VM %s: "+format, append([]any{name}, a...)...)
}
