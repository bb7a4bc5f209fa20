package convert

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
	"github.com/podvm-migrate/podvm-migrate/disksource"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

// benchDiskMiB is small enough for `make bench`'s one iteration; set
// PODVM_BENCH_MIB for profiles of larger disks.
const benchDiskMiB = 256

// writeBenchRaw writes the disks of scripts/bench-convert.sh at a smaller
// size: "mixed" is random data and holes, 8 MiB of each in turn; "text" is
// compressible text, half base64 and half decimal numbers.
func writeBenchRaw(b *testing.B, path, kind string, mib int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(mib) << 20); err != nil {
		b.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 8<<20)
	num := 1
	for off := 0; off < mib<<20; off += len(chunk) {
		switch {
		case kind == "mixed" && off/len(chunk)%2 == 1:
			continue
		case kind == "mixed" || off < mib<<19:
			rng.Read(chunk)
			if kind == "text" {
				const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
				for i := range chunk {
					chunk[i] = b64[chunk[i]&63]
					if i%77 == 76 {
						chunk[i] = '\n'
					}
				}
			}
		default:
			chunk = chunk[:0]
			for len(chunk) < 8<<20 {
				chunk = strconv.AppendInt(chunk, int64(num), 10)
				chunk = append(chunk, '\n')
				num++
			}
			chunk = chunk[:8<<20]
		}
		if _, err := f.WriteAt(chunk, int64(off)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDisk converts streamOptimized and monolithicSparse VMDKs made by
// qemu-img to qcow2 and raw, the cases of scripts/bench-convert.sh.
func BenchmarkDisk(b *testing.B) {
	testtool.Require(b, "qemu-img")
	mib := benchDiskMiB
	if s := os.Getenv("PODVM_BENCH_MIB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n%16 != 0 {
			b.Fatalf("PODVM_BENCH_MIB=%q: want a positive multiple of 16", s)
		}
		mib = n
	}
	dir := b.TempDir()
	for _, kind := range []string{"mixed", "text"} {
		rawPath := filepath.Join(dir, kind+".raw")
		writeBenchRaw(b, rawPath, kind, mib)
		for _, sub := range []string{"streamOptimized", "monolithicSparse"} {
			src := filepath.Join(dir, kind+"-"+sub+".vmdk")
			testtool.Run(b, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, rawPath, src)
			if sub == "streamOptimized" {
				// As an NFC export serves it: read front to back, no seeks.
				b.Run(kind+"/"+sub+"/as-a-stream/"+FormatQCOW2, func(b *testing.B) {
					dst := filepath.Join(dir, "out.qcow2")
					b.SetBytes(int64(mib) << 20)
					for b.Loop() {
						f, err := os.Open(src)
						if err != nil {
							b.Fatal(err)
						}
						img, err := vmdk.OpenStream(src, f, f)
						if err != nil {
							b.Fatal(err)
						}
						_, err = DiskFrom(context.Background(), img, src, dst, DiskOptions{Force: true})
						img.Close()
						if err != nil {
							b.Fatal(err)
						}
					}
					os.Remove(dst)
				})
			}
			for _, format := range []string{FormatQCOW2, FormatRaw} {
				b.Run(fmt.Sprintf("%s/%s/%s", kind, sub, format), func(b *testing.B) {
					dst := filepath.Join(dir, "out."+format)
					b.SetBytes(int64(mib) << 20)
					for b.Loop() {
						if _, err := Disk(context.Background(), disksource.File(src), dst, DiskOptions{Format: format, Force: true}); err != nil {
							b.Fatal(err)
						}
					}
					os.Remove(dst)
				})
			}
			os.Remove(src)
		}
		os.Remove(rawPath)
	}
}
