package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/discover"
	"github.com/podvm-migrate/podvm-migrate/discover/ovf"
	"github.com/podvm-migrate/podvm-migrate/discover/vmx"
	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/vsphere"
)

func init() { register(newDiscoverCommand) }

type discoverFlags struct {
	vmx, ovf, ova []string
	filter        discover.Filter
	powerState    string
	out           string
	progress      string
	datastoreDirs []string
	ovfConfig     string
	allow         allowPaths
}

func newDiscoverCommand(g *globalOptions) *cobra.Command {
	f := &discoverFlags{}
	cmd := &cobra.Command{
		Use:         "discover [--vmx PATH]... [--ovf PATH]... [--ova PATH]...",
		Annotations: map[string]string{outputDefault: "auto"},
		Short:       "Inventory VMs from vSphere or from .vmx, .ovf and .ova files",
		Long: `Inventory VMs into one document (apiVersion podvm-migrate/v1, kind Inventory)
that 'podvm-migrate plan' reads: identity, guest, hardware (firmware, CPU,
memory, controllers, disks, NICs), state (power, snapshots, CBT, devices
that pin a VM to its host) and where each VM came from.

vSphere is read when --url or GOVC_URL is set, in one paged property
collector pass whatever the number of VMs. Offline files come from --vmx,
--ovf and --ova: files, globs or directories (searched recursively).

Every VM is inventoried from its configuration alone: a disk whose
descriptor is missing, a disk on an ESXi datastore (/vmfs/volumes/DS/...,
read as "[DS] path"), an unknown .encoding, a line or an OVF item that
cannot be read are warnings in the VM's "warnings" and on stderr, and the
disk's capacity is "unknown" (capacityUnknown) until a descriptor or the
OVF states it. Host paths outside the VM's folder and device nodes are
never opened. --datastore-dir DS=DIR reads datastore DS (a name or a VMFS
volume UUID) from a local copy in DIR: the disks then point at files in
DIR, for offline conversion. --ovf-config chooses an OVF deployment
option (default: the envelope's default).

A .vmx disk's descriptor is checked the way 'migrate' will read it (its
descriptor and extent headers only, no disk data): a descriptor naming a
file outside its own folder, or a device node, marks the disk "refused" and
'plan' blocks the VM (rule disk-path-refused). --allow-path DIR allows a
folder, as on migrate.

Prints a table on a terminal and JSON otherwise (-o json|yaml|table);
--out writes the document to a file atomically. Exits 0 when every file
was inventoried (warnings or not), 1 when some file could not be read at
all (each is named on stderr; the others are still written).`,
		Example: `  podvm-migrate discover --url https://vc.example.com/sdk --username admin@vsphere.local -o yaml
  GOVC_URL=... podvm-migrate discover --folder /DC0/vm/apps --power-state on --out inventory.json
  podvm-migrate discover --vmx ~/vmware --ova exports/*.ova -o json
  podvm-migrate discover --vmx esx-configs/ --datastore-dir datastore1=/mnt/ds1-copy --out inventory.yaml
  podvm-migrate discover --ova appliance.ova --ovf-config large`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runDiscover(cmd, g, f) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.vmx, "vmx", nil, ".vmx files, globs or directories (repeatable)")
	fl.StringSliceVar(&f.ovf, "ovf", nil, ".ovf files, globs or directories (repeatable)")
	fl.StringSliceVar(&f.ova, "ova", nil, ".ova files, globs or directories (repeatable)")
	fl.StringVar(&f.filter.Datacenter, "datacenter", "", "only VMs of this datacenter (vSphere)")
	fl.StringVar(&f.filter.Folder, "folder", "", "only VMs in this inventory folder and below, e.g. /DC0/vm/apps (vSphere)")
	fl.StringVar(&f.filter.Name, "name", "", "only VMs whose name matches this glob, e.g. 'web-*'")
	fl.StringVar(&f.powerState, "power-state", "", "only VMs in this power state: on, off or suspended")
	fl.StringVar(&f.out, "out", "", "write the inventory to this file (atomically) instead of stdout")
	fl.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (on a terminal), always or never")
	fl.StringArrayVar(&f.datastoreDirs, "datastore-dir", nil, "DS=DIR: read datastore DS (name or VMFS UUID) of ESXi paths from the local copy DIR (repeatable)")
	fl.StringVar(&f.ovfConfig, "ovf-config", "", "OVF deployment option whose items count (default: the envelope's default)")
	f.allow.register(fl)
	return cmd
}

func runDiscover(cmd *cobra.Command, g *globalOptions, f *discoverFlags) error {
	ps, err := discover.ParsePowerState(f.powerState)
	if err != nil {
		return usageError{fmt.Errorf("--power-state: %w", err)}
	}
	f.filter.PowerState = ps
	if err := f.filter.Validate(); err != nil {
		return usageError{err}
	}
	switch f.progress {
	case "auto", "always", "never":
	default:
		return usageError{fmt.Errorf("--progress %q: want auto, always or never", f.progress)}
	}
	dirs, err := discover.ParseDatastoreDirs(f.datastoreDirs)
	if err != nil {
		return usageError{fmt.Errorf("--datastore-dir: %w", err)}
	}
	paths, err := f.allow.policy()
	if err != nil {
		return err
	}
	var sources []discover.Source
	if g.vsphere.URL != "" {
		if err := checkCredentials(g.vsphere); err != nil {
			return err
		}
		sources = append(sources, vsphere.NewSource(g.vsphere))
	}
	if len(f.vmx) > 0 {
		sources = append(sources, &vmx.Source{Paths: f.vmx, Options: vmx.Options{DatastoreDirs: dirs, AllowPaths: paths.AllowDirs}})
	}
	if files := append(append([]string(nil), f.ovf...), f.ova...); len(files) > 0 {
		sources = append(sources, &ovf.Source{Paths: files, Options: ovf.Options{Config: f.ovfConfig}})
	}
	if len(sources) == 0 {
		return usageError{fmt.Errorf("nothing to discover: set --url (or GOVC_URL), --vmx, --ovf or --ova")}
	}
	bar := newDiscoverProgress(cmd.ErrOrStderr(), f.progress)
	opts := discover.Options{Filter: f.filter, Progress: bar.update}
	inv, err := discover.Collect(cmd.Context(), sources, opts)
	bar.finish()
	if _, partial := discover.AsUnreadable(err); err != nil && !partial {
		return err
	}
	for _, s := range sources {
		if vs, ok := s.(*vsphere.Source); ok {
			g.log.Debug("vsphere discovery", "endpoint", vs.String(), "roundTrips", vs.RoundTrips, "vms", len(inv.VMs))
		}
	}
	printWarnings(cmd.ErrOrStderr(), inv)
	if len(inv.VMs) == 0 && err == nil {
		if fl := f.filter.String(); fl != "" {
			return fmt.Errorf("no VM matched %s", fl)
		}
		fmt.Fprintln(cmd.ErrOrStderr(), "discover: no VM found")
	}
	if werr := outputInventory(cmd, g, f, inv); werr != nil {
		return werr
	}
	return err // the unreadable files, named one a line; nil when there are none
}

// printWarnings writes each VM's warnings to w, one a line, naming the VM.
func printWarnings(w io.Writer, inv *discover.Inventory) {
	for _, vm := range inv.VMs {
		for _, msg := range vm.Warnings {
			fmt.Fprintf(w, "discover: warning: %s: %s\n", vm.Name, msg)
		}
	}
}

// outputInventory prints the inventory or writes it to --out.
func outputInventory(cmd *cobra.Command, g *globalOptions, f *discoverFlags, inv *discover.Inventory) error {
	format := g.format
	if f.out != "" {
		if !g.formatGiven || format == output.Table {
			format = output.JSON
			if ext := strings.ToLower(filepath.Ext(f.out)); ext == ".yaml" || ext == ".yml" {
				format = output.YAML
			}
		}
		var buf bytes.Buffer
		if err := output.Print(&buf, format, inv); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(f.out, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "discover: %s written to %s\n", countVMs(len(inv.VMs)), f.out)
		return nil
	}
	if format == output.Table {
		return output.Print(cmd.OutOrStdout(), output.Table, inventoryTable{inv})
	}
	return output.Print(cmd.OutOrStdout(), format, inv)
}

// discoverProgress shows a progress bar on stderr once an inventory is
// large enough to be worth one.
type discoverProgress struct {
	w    io.Writer
	bar  *progressbar.ProgressBar
	mode string
}

// progressMin is the VM count from which the bar shows.
const progressMin = 200

func newDiscoverProgress(w io.Writer, mode string) *discoverProgress {
	return &discoverProgress{w: w, mode: mode}
}

func (p *discoverProgress) update(done, total int) {
	if p.mode == "never" || (p.mode == "auto" && !output.IsTerminal(p.w)) {
		return
	}
	if p.bar == nil {
		if total < progressMin && p.mode == "auto" {
			return
		}
		max := int64(total)
		if total == 0 {
			max = -1
		}
		p.bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription("discovering VMs"),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100e6), progressbar.OptionClearOnFinish())
	}
	_ = p.bar.Set(done)
}

func (p *discoverProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// inventoryTable is the terminal view of an inventory: one row per VM.
type inventoryTable struct{ *discover.Inventory }

func (t inventoryTable) Header() []string {
	return []string{"name", "source", "power", "guest", "firmware", "cpu", "memory", "disks", "nics", "location"}
}

func (t inventoryTable) Rows() [][]string {
	rows := make([][]string, 0, len(t.VMs))
	for _, vm := range t.VMs {
		var size int64
		for _, d := range vm.Hardware.Disks {
			size += d.CapacityBytes
		}
		fw := string(vm.Hardware.Firmware)
		if vm.Hardware.SecureBoot {
			fw += "+sb"
		}
		if vm.Hardware.VTPM {
			fw += "+tpm"
		}
		loc := vm.Identity.InventoryPath
		if loc == "" {
			loc = vm.Source.Path
			if vm.Source.Member != "" {
				loc += ":" + vm.Source.Member
			}
		}
		power := string(vm.State.Power)
		if power == "" {
			power = "-"
		}
		rows = append(rows, []string{vm.Name, string(vm.Source.Kind), power, vm.Guest.GuestID, fw,
			strconv.Itoa(vm.Hardware.CPUs), fmt.Sprintf("%d MiB", vm.Hardware.MemoryMiB),
			fmt.Sprintf("%d (%.1f GiB)", len(vm.Hardware.Disks), float64(size)/(1<<30)), strconv.Itoa(len(vm.Hardware.NICs)), loc})
	}
	return rows
}

// countVMs is "1 VM", "2 VMs".
func countVMs(n int) string {
	if n == 1 {
		return "1 VM"
	}
	return fmt.Sprintf("%d VMs", n)
}

// checkCredentials refuses a vSphere login that names a user but has no
// password, before vCenter answers "wrong user name or password".
func checkCredentials(c vsphere.Config) error {
	_, c, err := c.Endpoint()
	if err != nil {
		return usageError{err}
	}
	if c.Username != "" && c.Password == "" {
		if c.PasswordFile != "" {
			return usageError{fmt.Errorf("vsphere: password file %s: its first line is empty: no password given for %s", c.PasswordFile, c.Username)}
		}
		return usageError{fmt.Errorf("vsphere: no password given for %s: set GOVC_PASSWORD or pass --password-file FILE", c.Username)}
	}
	return nil
}
