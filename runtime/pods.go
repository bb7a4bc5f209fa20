package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"libvirt.org/go/libvirt"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// States a pod VM can be in.
const (
	StateRunning = "running"
	StatePaused  = "paused"
	StateStopped = "stopped"
	StateOther   = "other"
)

// Duration prints as "1.5s" in JSON and tables.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Round(time.Millisecond).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// PodVM is one pod VM: its record and, when listed, its live state.
type PodVM struct {
	Name        string        `json:"name"`
	Domain      string        `json:"domain"`
	State       string        `json:"state"`
	Image       string        `json:"image"`
	ImageDir    string        `json:"imageDir,omitempty"`
	Accel       string        `json:"accel"`
	AccelReason string        `json:"accelReason"`
	Started     time.Time     `json:"started"`
	Uptime      Duration      `json:"uptime,omitempty"`
	ReadyLine   string        `json:"readyLine,omitempty"`
	ReadyAfter  Duration      `json:"readyAfter,omitempty"`
	PID         int           `json:"pid,omitempty"`
	Fast        bool          `json:"fast,omitempty"`
	Publish     []PortForward `json:"publish,omitempty"`
	Addresses   []Address     `json:"addresses,omitempty"` // the guest's IP addresses while it runs
	SerialLog   string        `json:"serialLog"`
	Overlays    []string      `json:"overlays"`
	Dir         string        `json:"dir"`
	Spec        podvm.Spec    `json:"spec"`
}

// List returns the pod VMs of this state folder: those with a record in
// it, and any running domain whose metadata names it but whose record is
// gone. Pod VMs of other state folders on the same libvirtd are theirs:
// a test's or another user's runtime does not show in this one's list.
func (r *Runtime) List(ctx context.Context) ([]PodVM, error) {
	entries, err := os.ReadDir(filepath.Join(r.cfg.StateDir, "pods"))
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	live, err := r.liveDomains()
	if err != nil {
		return nil, err
	}
	var pods []PodVM
	seen := map[string]bool{}
	for _, e := range entries {
		p, err := r.record(e.Name())
		if err != nil {
			continue
		}
		r.refresh(p, live)
		seen[p.Domain] = true
		pods = append(pods, *p)
	}
	for name, d := range live {
		if seen[name] || d.meta.Name == "accel-probe" || filepath.Clean(d.meta.State) != filepath.Clean(r.cfg.StateDir) {
			continue
		}
		started, _ := time.Parse(time.RFC3339Nano, d.meta.Started)
		p := PodVM{Name: d.meta.Name, Domain: name, Image: d.meta.Image, Accel: d.meta.Accel,
			AccelReason: d.meta.Reason, Started: started, Dir: filepath.Join(d.meta.State, "pods", d.meta.Name)}
		r.refresh(&p, live)
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods, nil
}

// Get returns one pod VM with its live state.
func (r *Runtime) Get(ctx context.Context, name string) (*PodVM, error) {
	p, err := r.record(name)
	if err != nil {
		return nil, err
	}
	live, err := r.liveDomains()
	if err != nil {
		return nil, err
	}
	r.refresh(p, live)
	return p, nil
}

func (r *Runtime) record(name string) (*PodVM, error) {
	if !podvm.IsDNS1123Label(name) {
		return nil, fmt.Errorf("pod VM %q: %w", name, ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(r.podDir(name), "pod.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pod VM %s: %w (see 'podvm-migrate list')", name, ErrNotFound)
		}
		return nil, fmt.Errorf("pod VM %s: %w", name, err)
	}
	var p PodVM
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("pod VM %s: record %s: %w", name, filepath.Join(r.podDir(name), "pod.json"), err)
	}
	return &p, nil
}

// liveDomain is a running libvirt domain that carries our metadata.
type liveDomain struct {
	state libvirt.DomainState
	id    uint
	meta  podMeta
}

func (r *Runtime) liveDomains() (map[string]liveDomain, error) {
	doms, err := r.conn.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	out := map[string]liveDomain{}
	for i := range doms {
		d := &doms[i]
		name, err := d.GetName()
		if err == nil && strings.HasPrefix(name, DomainPrefix) {
			if md, err := d.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, MetadataNS, libvirt.DOMAIN_AFFECT_LIVE); err == nil {
				if meta, err := parseMeta(md); err == nil {
					ld := liveDomain{meta: meta}
					ld.state, _, _ = d.GetState()
					ld.id, _ = d.GetID()
					out[name] = ld
				}
			}
		}
		d.Free()
	}
	return out, nil
}

// refresh fills the live fields: state, uptime, QEMU's PID and the
// guest's addresses.
func (r *Runtime) refresh(p *PodVM, live map[string]liveDomain) {
	d, ok := live[p.Domain]
	if !ok {
		p.State, p.Uptime, p.PID, p.Addresses = StateStopped, 0, 0, nil
		return
	}
	p.Addresses = r.addresses(p)
	switch d.state {
	case libvirt.DOMAIN_RUNNING:
		p.State = StateRunning
	case libvirt.DOMAIN_PAUSED:
		p.State = StatePaused
	default:
		p.State = StateOther
	}
	if !p.Started.IsZero() {
		p.Uptime = Duration(time.Since(p.Started))
	}
	if b, err := os.ReadFile(filepath.Join("/run/libvirt/qemu", p.Domain+".pid")); err == nil {
		p.PID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
}

// Logs copies the pod VM's serial console log to w; with follow it keeps
// copying until the pod VM stops or ctx ends.
func (r *Runtime) Logs(ctx context.Context, name string, w io.Writer, follow bool) error {
	p, err := r.record(name)
	if err != nil {
		return err
	}
	f, err := os.Open(p.SerialLog)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // nothing printed yet
		}
		return fmt.Errorf("pod VM %s: log: %w", name, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil || !follow {
		return logErr(name, p.SerialLog, err)
	}
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, false, func(context.Context) (bool, error) {
		if _, err := io.Copy(w, f); err != nil {
			return false, logErr(name, p.SerialLog, err)
		}
		live, err := r.liveDomains()
		if err != nil {
			return false, err
		}
		if _, ok := live[p.Domain]; !ok {
			_, err := io.Copy(w, f) // what it printed last
			return true, logErr(name, p.SerialLog, err)
		}
		return false, nil
	})
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // the caller stopped following
	}
	return err
}

// logErr names the pod VM and its log in a copy error; nil stays nil.
func logErr(name, file string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("pod VM %s: log %s: %w", name, file, err)
}

// Stop asks the guest to shut down (ACPI) and destroys the domain when it
// has not gone after grace (at once with grace 0). The record, overlay and
// log stay for 'logs' and 'rm'.
func (r *Runtime) Stop(ctx context.Context, name string, grace time.Duration) error {
	p, err := r.record(name)
	if err != nil {
		return err
	}
	dom, err := r.conn.LookupDomainByName(p.Domain)
	if err != nil {
		return nil // already stopped: a transient domain vanishes when it stops
	}
	defer dom.Free()
	if grace > 0 {
		if err := dom.Shutdown(); err == nil {
			gctx, cancel := context.WithTimeout(ctx, grace)
			err := wait.PollUntilContextCancel(gctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
				active, err := dom.IsActive()
				return err != nil || !active, nil
			})
			cancel()
			if err == nil {
				return nil // shut down within grace
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if err := dom.Destroy(); err != nil {
		if active, aerr := dom.IsActive(); aerr != nil || !active {
			return nil
		}
		return fmt.Errorf("pod VM %s: stop: %w", name, err)
	}
	return nil
}

// Remove deletes a stopped pod VM's overlays, log and record (never the
// image). A running one is refused unless force, which destroys it first.
func (r *Runtime) Remove(ctx context.Context, name string, force bool) error {
	p, err := r.record(name)
	if err != nil {
		return err
	}
	if dom, err := r.conn.LookupDomainByName(p.Domain); err == nil {
		active, _ := dom.IsActive()
		dom.Free()
		if active {
			if !force {
				return fmt.Errorf("pod VM %s: %w: stop it first or use --force", name, ErrRunning)
			}
			if err := r.Stop(ctx, name, 0); err != nil {
				return err
			}
		}
	}
	if err := os.RemoveAll(r.podDir(name)); err != nil {
		return fmt.Errorf("pod VM %s: remove %s: %w", name, r.podDir(name), err)
	}
	// libvirt's QEMU log of the domain, when libvirtd runs on this host.
	_ = os.Remove(filepath.Join("/var/log/libvirt/qemu", p.Domain+".log"))
	return nil
}
