package vmx

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// maxVMX bounds a .vmx file: real ones are a few KiB.
const maxVMX = 4 << 20

// Source discovers the VMs of .vmx files: paths are files, globs or
// directories (searched for *.vmx).
type Source struct {
	Paths []string
}

var _ discover.Source = (*Source)(nil)

// String names the files searched.
func (s *Source) String() string { return "vmx:" + strings.Join(s.Paths, ",") }

// Discover reads every .vmx and the .vmdk descriptors it names.
func (s *Source) Discover(ctx context.Context, opts discover.Options) ([]discover.VM, error) {
	files, err := discover.ExpandPaths(s.Paths, ".vmx")
	if err != nil {
		return nil, fmt.Errorf("vmx: %w", err)
	}
	var vms []discover.VM
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		vm, err := ReadFile(f)
		if err != nil {
			return nil, err
		}
		if opts.Filter.Match(&vm) {
			vms = append(vms, vm)
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(files))
		}
	}
	return vms, nil
}

// ReadFile reads one .vmx (and the .vmsd next to it, for snapshots).
func ReadFile(path string) (discover.VM, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return discover.VM{}, fmt.Errorf("vmx: %s: %w", path, err)
	}
	data, err := readLimited(abs, maxVMX)
	if err != nil {
		return discover.VM{}, fmt.Errorf("vmx: %w", err)
	}
	d, err := Parse(abs, data)
	if err != nil {
		return discover.VM{}, fmt.Errorf("vmx: %w", err)
	}
	if len(d) == 0 {
		return discover.VM{}, fmt.Errorf("vmx: %s: no keys: not a .vmx file", abs)
	}
	vm, err := ToVM(abs, d)
	if err != nil {
		return vm, fmt.Errorf("vmx: %w", err)
	}
	vmsd := strings.TrimSuffix(abs, filepath.Ext(abs)) + ".vmsd"
	if data, err := readLimited(vmsd, maxVMX); err == nil {
		sd, err := Parse(vmsd, data)
		if err != nil {
			return vm, fmt.Errorf("vmx: %w", err)
		}
		vm.State.Snapshots, vm.State.CurrentSnapshot = Snapshots(sd)
	}
	return vm, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes: too big for a VMware configuration file", path, st.Size())
	}
	return os.ReadFile(path)
}

// Snapshots reads the snapshot tree of a .vmsd (snapshotN.uid, .parent,
// .displayName, .createTimeHigh/Low, snapshot.current), parents first.
func Snapshots(d Dict) ([]discover.Snapshot, string) {
	type node struct {
		uid, parent, name string
		created           time.Time
		memory            bool
	}
	byUID := map[string]*node{}
	var order []*node
	for i := int64(0); i < d.Int("snapshot.numSnapshots", 0)+64 && i < 4096; i++ {
		p := fmt.Sprintf("snapshot%d.", i)
		uid := d.Get(p + "uid")
		if uid == "" {
			continue
		}
		n := &node{uid: uid, parent: d.Get(p + "parent"), name: d.Get(p + "displayName")}
		hi, lo := d.Int(p+"createTimeHigh", 0), d.Int(p+"createTimeLow", 0)
		if hi != 0 || lo != 0 {
			us := hi<<32 | (lo & 0xffffffff)
			n.created = time.UnixMicro(us).UTC()
		}
		byUID[uid] = n
		order = append(order, n)
	}
	pathOf := func(n *node) string {
		parts := []string{n.name}
		seen := map[string]bool{n.uid: true}
		for p := byUID[n.parent]; p != nil && !seen[p.uid]; p = byUID[p.parent] {
			seen[p.uid] = true
			parts = append([]string{p.name}, parts...)
		}
		return strings.Join(parts, "/")
	}
	var out []discover.Snapshot
	current := ""
	for _, n := range order {
		s := discover.Snapshot{Name: n.name, Path: pathOf(n), Created: n.created}
		out = append(out, s)
		if n.uid == d.Get("snapshot.current") {
			current = s.Path
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i].Path, "/") < strings.Count(out[j].Path, "/") })
	return out, current
}
