package vmx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	Paths   []string
	Options Options
}

var _ discover.Source = (*Source)(nil)

// String names the files searched.
func (s *Source) String() string { return "vmx:" + strings.Join(s.Paths, ",") }

// Discover reads every .vmx and the .vmdk descriptors it names. A file
// that cannot be read at all does not stop the others: the VMs of the
// rest come back with a *discover.UnreadableFiles naming it.
func (s *Source) Discover(ctx context.Context, opts discover.Options) ([]discover.VM, error) {
	files, err := discover.ExpandPaths(s.Paths, ".vmx")
	if err != nil {
		return nil, fmt.Errorf("vmx: %w", err)
	}
	var vms []discover.VM
	unreadable := &discover.UnreadableFiles{}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		vm, err := ReadFile(f, s.Options)
		if err != nil {
			unreadable.Add(f, err)
			continue
		}
		if opts.Filter.Match(&vm) {
			vms = append(vms, vm)
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(files))
		}
	}
	return vms, unreadable.Err()
}

// ReadFile reads one .vmx (and the .vmsd next to it, for snapshots). It
// fails only when the file cannot be read at all (missing, too big, not
// a regular file, no key = value line); every other problem is a warning
// in the VM's Warnings.
func ReadFile(path string, o Options) (discover.VM, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return discover.VM{}, fmt.Errorf("vmx: %s: %w", path, err)
	}
	data, err := readLimited(abs, maxVMX)
	if err != nil {
		return discover.VM{}, fmt.Errorf("vmx: %w", err)
	}
	d, lines, warns := ParseLines(abs, data)
	if len(d) == 0 {
		return discover.VM{}, fmt.Errorf("vmx: %s: no key = value line: not a .vmx file", abs)
	}
	vm := toVM(abs, d, lines, o)
	vm.Warnings = append(warns, vm.Warnings...)
	vmsd := strings.TrimSuffix(abs, filepath.Ext(abs)) + ".vmsd"
	if data, err := readLimited(vmsd, maxVMX); err == nil {
		sd, warns := Parse(vmsd, data)
		vm.Warnings = append(vm.Warnings, warns...)
		vm.State.Snapshots, vm.State.CurrentSnapshot = Snapshots(sd)
	} else if !errors.Is(err, fs.ErrNotExist) {
		vm.Warnings = append(vm.Warnings, fmt.Sprintf("%s: %v: snapshots unknown", vmsd, err))
	}
	return vm, nil
}

// readLimited reads a regular file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes: too big for a VMware configuration file", path, st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes: too big for a VMware configuration file", path, limit)
	}
	return data, nil
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
