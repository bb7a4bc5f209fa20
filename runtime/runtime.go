// Package runtime is the included pod-VM runtime: it boots pod VM images
// (or plain disks with a spec) as libvirt domains on KVM, or on TCG when a
// smoke boot shows KVM does not really work, and lists, logs, stops and
// removes them.
package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
)

// DefaultURI is the libvirt connection a runtime uses unless told otherwise.
const DefaultURI = "qemu:///system"

// DefaultStateDir keeps the image store, the pod VMs' overlays and logs.
const DefaultStateDir = "/var/lib/podvm-migrate"

// PodVMRuntime is what a pod-VM runtime does.
type PodVMRuntime interface {
	Run(ctx context.Context, cfg MachineConfig) (*PodVM, error)
	List(ctx context.Context) ([]PodVM, error)
	Get(ctx context.Context, name string) (*PodVM, error)
	Logs(ctx context.Context, name string, w io.Writer, follow bool) error
	Stop(ctx context.Context, name string, grace time.Duration) error
	Remove(ctx context.Context, name string, force bool) error
	Close() error
}

var _ PodVMRuntime = (*Runtime)(nil)

// Config is how a Runtime connects and where it keeps its files.
type Config struct {
	URI          string        // libvirt URI; default qemu:///system
	StateDir     string        // image store, pod VM folders, accelerator verdict
	OVMFDir      string        // where OVMF firmware is looked up; default: the firmware libvirt's domain capabilities list
	ProbeKernel  string        // kernel for the KVM smoke boot (else the image's own, if any)
	ProbeInitrd  string        // its initramfs
	ProbeTimeout time.Duration // how long the KVM smoke boot may take; default 20s
	Registry     RegistryOptions
	Log          *slog.Logger
}

// Option changes a Config.
type Option func(*Config)

// WithURI sets the libvirt URI.
func WithURI(uri string) Option { return func(c *Config) { c.URI = uri } }

// WithStateDir sets where images, overlays and logs live.
func WithStateDir(dir string) Option { return func(c *Config) { c.StateDir = dir } }

// WithOVMFDir sets where UEFI firmware is looked up instead of among the
// firmware libvirt's domain capabilities list.
func WithOVMFDir(dir string) Option { return func(c *Config) { c.OVMFDir = dir } }

// WithProbeGuest sets the kernel and initramfs of the KVM smoke boot;
// relative paths are taken from the current folder.
func WithProbeGuest(kernel, initrd string) Option {
	return func(c *Config) { c.ProbeKernel, c.ProbeInitrd = kernel, initrd }
}

// WithProbeTimeout bounds the KVM smoke boot.
func WithProbeTimeout(d time.Duration) Option { return func(c *Config) { c.ProbeTimeout = d } }

// WithRegistry sets TLS and credentials for pulling images.
func WithRegistry(ro RegistryOptions) Option { return func(c *Config) { c.Registry = ro } }

// WithLogger sets where progress is logged.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Log = l } }

// Runtime runs pod VMs as libvirt domains.
type Runtime struct {
	cfg  Config
	conn *libvirt.Connect
	caps capsCache // libvirt's domain capabilities, asked once

	mu     sync.Mutex
	warned map[string]bool // warnings given once (warnOnce)
}

// New connects to libvirt and prepares the state folder. A daemon that does
// not answer gives ErrLibvirtUnavailable with how to start it.
func New(ctx context.Context, opts ...Option) (*Runtime, error) {
	cfg := Config{URI: DefaultURI, StateDir: DefaultStateDir, ProbeTimeout: 20 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("runtime: state folder %s: %w", cfg.StateDir, err)
	}
	cfg.StateDir = abs
	// libvirt opens the probe guest's files from its own working folder.
	for _, p := range []*string{&cfg.ProbeKernel, &cfg.ProbeInitrd} {
		if *p == "" {
			continue
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, fmt.Errorf("runtime: probe guest file: %w", err)
		}
	}
	conn, err := connect(ctx, cfg.URI)
	if err != nil {
		return nil, err
	}
	if err := prepareStateDir(cfg.StateDir); err != nil {
		conn.Close()
		return nil, err
	}
	return &Runtime{cfg: cfg, conn: conn}, nil
}

// connect opens the libvirt connection; the first one on a host costs
// seconds (QEMU capability probe), so it honours ctx while waiting.
func connect(ctx context.Context, uri string) (*libvirt.Connect, error) {
	type result struct {
		c   *libvirt.Connect
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := libvirt.NewConnect(uri)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrLibvirtUnavailable, uri, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("runtime: connect %s: %w", uri, ctx.Err())
	}
}

// Config returns the settings the runtime runs with.
func (r *Runtime) Config() Config { return r.cfg }

// Close closes the libvirt connection. Pod VMs keep running.
func (r *Runtime) Close() error {
	if r.conn == nil {
		return nil
	}
	_, err := r.conn.Close()
	r.conn = nil
	return err
}

// Command is the podvm-migrate command line that reaches this runtime's
// pod VMs, for hints: "podvm-migrate VERB ARGS", with --connect and
// --state-dir when they are not the defaults.
func (r *Runtime) Command(verb string, args ...string) string {
	parts := append([]string{"podvm-migrate", verb}, args...)
	if r.cfg.URI != DefaultURI {
		parts = append(parts, "--connect", r.cfg.URI)
	}
	if r.cfg.StateDir != DefaultStateDir {
		parts = append(parts, "--state-dir", r.cfg.StateDir)
	}
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, " \t'\"$\\") {
			parts[i] = "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return strings.Join(parts, " ")
}

func (r *Runtime) podDir(name string) string { return filepath.Join(r.cfg.StateDir, "pods", name) }

// prepareStateDir creates the state folders (0755: libvirt-qemu reads the
// images and overlays under them) and checks every folder above is o+x.
func prepareStateDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, "images"), filepath.Join(dir, "pods")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("runtime: state folder %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("runtime: state folder %s: %w", d, err)
		}
	}
	if err := checkTraversable(dir); err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	return nil
}
