package convert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/treehash"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// testDiskSize is not a multiple of a grain or a cluster, and crosses a
// grain table (32 MiB) boundary.
const testDiskSize = 37<<20 + 1536

// writeTestRaw writes a sparse raw disk with random, compressible, short
// and unaligned data, holes, and data across the 32 MiB grain table boundary.
func writeTestRaw(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(testDiskSize); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := []byte(strings.Repeat("podvm-migrate converts VMware disks to pod VMs; ", 50000))
	writes := []struct {
		off  int64
		data []byte
	}{
		{1 << 20, random(3 << 20)},
		{10<<20 + 512, random(4096)},
		{20 << 20, text[:2<<20]},
		{31<<20 + 1<<19, random(1 << 20)},
		{testDiskSize - 512, []byte("last sector")},
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.data, w.off); err != nil {
			t.Fatal(err)
		}
	}
}

// sums are the digests of a raw file's bytes, "algorithm:hex".
type sums struct{ tree, flat string }

// sumsOf hashes a raw file plainly: the tree leaf by leaf, zeros included,
// and the flat SHA-256 of it all, as sha256sum does.
func sumsOf(t testing.TB, path string) sums {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tr treehash.Tree
	tr.AddBytes(b)
	tree, err := tr.Hex()
	if err != nil {
		t.Fatal(err)
	}
	flat := sha256.Sum256(b)
	return sums{tree: SumTree + ":" + tree, flat: SumSHA256 + ":" + hex.EncodeToString(flat[:])}
}

// qemuCompare checks with qemu-img that two images hold the same guest bytes.
func qemuCompare(t testing.TB, a, b string) {
	t.Helper()
	out, err := exec.Command("qemu-img", "compare", a, b).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img compare %s %s: %v\n%s", filepath.Base(a), filepath.Base(b), err, out)
	}
}

// convertAndCheck converts src to every target and checks each with
// qemu-img (compare, and check for qcow2) and against the raw image's SHA-256.
func convertAndCheck(t *testing.T, src string, want sums) {
	t.Helper()
	convertAndCompare(t, src, src, want)
}

// convertAndCompare is convertAndCheck comparing targets to ref, for sources
// qemu-img cannot open.
func convertAndCompare(t *testing.T, src, ref string, want sums) {
	t.Helper()
	dir := t.TempDir()
	cases := []struct {
		name     string
		format   string
		compress bool
		checksum string
	}{
		{"raw", FormatRaw, false, ""},
		{"qcow2", FormatQCOW2, false, ""},
		{"qcow2-compressed", FormatQCOW2, true, ""},
		{"qcow2-flat-sha256", FormatQCOW2, false, SumSHA256},
	}
	for _, c := range cases {
		dst := filepath.Join(dir, c.name)
		r, err := Disk(context.Background(), disksource.File(src), dst, DiskOptions{Format: c.format, Compress: c.compress, Verify: true, Workers: 2, Checksum: c.checksum})
		if err != nil {
			t.Fatalf("%s -> %s: %v", filepath.Base(src), c.name, err)
		}
		qemuCompare(t, ref, dst)
		wantSum := want.tree
		if c.checksum == SumSHA256 {
			wantSum = want.flat
		}
		if r.SourceChecksum != wantSum || r.TargetChecksum != wantSum {
			t.Errorf("%s -> %s: checksum source %s target %s, want %s", filepath.Base(src), c.name, r.SourceChecksum, r.TargetChecksum, wantSum)
		}
		if c.format == FormatQCOW2 {
			testtool.Run(t, "qemu-img", "check", dst)
		}
		if c.format == FormatRaw {
			if got := sumsOf(t, dst); got != want {
				t.Errorf("%s -> raw: file digests %v, want %v", filepath.Base(src), got, want)
			}
		}
	}
}
