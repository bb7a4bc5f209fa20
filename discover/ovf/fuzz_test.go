package ovf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// FuzzEnvelope feeds the OVF envelope parser and the mapping to the
// inventory model, with every file of the package present: they never
// panic, and an envelope that parses gives a VM per VirtualSystem.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(richOVF))
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "*.ovf"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*.ovf"))
	for _, p := range append(seeds, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseEnvelope("fuzz.ovf", bytes.NewReader(data))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.ovf") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		resolve := func(fl File) (string, []string, error) {
			return locate(fl, func(name string) bool { return !strings.HasSuffix(name, "1") })
		}
		vms, err := ToVMs("fuzz.ovf", env, discover.SourceRef{Kind: discover.SourceOVF}, resolve, Options{Config: "large"})
		if err != nil {
			if len(env.AllSystems()) != 0 {
				t.Fatalf("%d systems: %v", len(env.AllSystems()), err)
			}
			return
		}
		if len(vms) != len(env.AllSystems()) {
			t.Fatalf("%d VMs of %d systems", len(vms), len(env.AllSystems()))
		}
		for _, vm := range vms {
			if vm.Hardware.CPUs < 1 || vm.Hardware.Sockets < 1 || vm.Hardware.MemoryMiB < 0 {
				t.Fatalf("hardware %+v", vm.Hardware)
			}
			for _, d := range vm.Hardware.Disks {
				if d.CapacityBytes < 0 {
					t.Fatalf("disk %+v", d)
				}
			}
		}
	})
}
