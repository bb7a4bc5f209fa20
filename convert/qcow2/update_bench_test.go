package qcow2

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// BenchmarkUpdaterFill writes 256 MiB in 4 MiB pieces into an empty image,
// as a warm migration's first round does.
func BenchmarkUpdaterFill(b *testing.B) {
	ctx := context.Background()
	const size, piece = 256 << 20, 4 << 20
	p := make([]byte, piece)
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	b.SetBytes(size)
	for range b.N {
		path := filepath.Join(b.TempDir(), "d.qcow2")
		w, err := Create(path, size, WriterOptions{TargetOptions: block.TargetOptions{Overwrite: true}})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		u, err := OpenUpdate(path)
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < size; off += piece {
			if err := u.WriteAt(ctx, p, off); err != nil {
				b.Fatal(err)
			}
		}
		if err := u.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
