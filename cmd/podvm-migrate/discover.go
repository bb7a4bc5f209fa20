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

Prints a table on a terminal and JSON otherwise (-o json|yaml|table);
--out writes the document to a file atomically.`,
		Example: `  podvm-migrate discover --url https://vc.example.com/sdk --username admin@vsphere.local -o yaml
  GOVC_URL=... podvm-migrate discover --folder /DC0/vm/apps --power-state on --out inventory.json
  podvm-migrate discover --vmx ~/vmware --ova exports/*.ova -o json`,
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
	var sources []discover.Source
	if g.vsphere.URL != "" {
		sources = append(sources, vsphere.NewSource(g.vsphere))
	}
	if len(f.vmx) > 0 {
		sources = append(sources, &vmx.Source{Paths: f.vmx})
	}
	if files := append(append([]string(nil), f.ovf...), f.ova...); len(files) > 0 {
		sources = append(sources, &ovf.Source{Paths: files})
	}
	if len(sources) == 0 {
		return usageError{fmt.Errorf("nothing to discover: set --url (or GOVC_URL), --vmx, --ovf or --ova")}
	}
	bar := newDiscoverProgress(cmd.ErrOrStderr(), f.progress)
	opts := discover.Options{Filter: f.filter, Progress: bar.update}
	inv, err := discover.Collect(cmd.Context(), sources, opts)
	bar.finish()
	if err != nil {
		return err
	}
	for _, s := range sources {
		if vs, ok := s.(*vsphere.Source); ok {
			g.log.Debug("vsphere discovery", "endpoint", vs.String(), "roundTrips", vs.RoundTrips, "vms", len(inv.VMs))
		}
	}
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
		fmt.Fprintf(cmd.ErrOrStderr(), "discover: %d VMs written to %s\n", len(inv.VMs), f.out)
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
