package vmx

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// corpusSeeds adds every file of the corpus with the given extension.
func corpusSeeds(f *testing.F, ext string) {
	f.Helper()
	err := filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.EqualFold(filepath.Ext(p), ext) {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil {
			f.Add(data)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
}

// FuzzParse feeds the VMX parser and the mapping to the inventory model:
// they never panic, always give valid UTF-8, and warn rather than fail.
func FuzzParse(f *testing.F) {
	corpusSeeds(f, ".vmx")
	f.Add([]byte(everything))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		d, warns := Parse("fuzz.vmx", data)
		for k, v := range d {
			if !utf8.ValidString(k) || !utf8.ValidString(v) || k != strings.ToLower(k) {
				t.Fatalf("key %q value %q", k, v)
			}
		}
		for _, w := range warns {
			if !strings.Contains(w, "fuzz.vmx") {
				t.Fatalf("warning without the file name: %q", w)
			}
		}
		vm := ToVM(filepath.Join(dir, "fuzz.vmx"), d, Options{DatastoreDirs: map[string]string{"ds": dir}})
		if vm.Hardware.CPUs < 1 && d.Int("numvcpus", 1) >= 1 {
			t.Fatalf("CPUs %d", vm.Hardware.CPUs)
		}
		for _, disk := range vm.Hardware.Disks {
			if disk.CapacityBytes < 0 {
				t.Fatalf("disk %+v", disk)
			}
		}
	})
}

// FuzzDescriptor feeds the VMDK descriptor reading discovery does (text
// descriptors and sparse headers with an embedded one).
func FuzzDescriptor(f *testing.F) {
	corpusSeeds(f, ".vmdk")
	sparse := make([]byte, 1024)
	copy(sparse, "KDMV\x01\x00\x00\x00\x03\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00")
	copy(sparse[512:], "# Disk DescriptorFile\ncreateType=\"monolithicSparse\"\nRW 2048 SPARSE \"x.vmdk\"\n")
	f.Add(sparse)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := readDescriptor("fuzz.vmdk", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.vmdk") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if d.CapacityBytes < 0 || d.CapacityBytes > maxSectors*512 {
			t.Fatalf("capacity %d", d.CapacityBytes)
		}
	})
}
