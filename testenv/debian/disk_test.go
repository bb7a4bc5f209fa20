package debian

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAssembleGrubDisk(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	boot := write("boot.img", bytes.Repeat([]byte{0xeb}, 512))
	core := write("core.img", bytes.Repeat([]byte{0xc0}, 3*512))
	part := write("part.img", bytes.Repeat([]byte{0x11}, 4<<20))
	disk := filepath.Join(dir, "disk.raw")
	if err := assembleGrubDisk(disk, 8<<20, boot, core, part); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	e := b[446:462]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"size", len(b), 8 << 20},
		{"boot code", b[439], byte(0xeb)},
		{"signature", [2]byte{b[510], b[511]}, [2]byte{0x55, 0xaa}},
		{"active", e[0], byte(0x80)},
		{"type", e[4], byte(0x83)},
		{"start", binary.LittleEndian.Uint32(e[8:]), uint32(2048)},
		{"sectors", binary.LittleEndian.Uint32(e[12:]), uint32(8192)},
		{"core at sector 1", b[512], byte(0xc0)},
		{"gap after core", b[4*512], byte(0)},
		{"partition", b[2048*512], byte(0x11)},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
	big := write("big-core.img", make([]byte, grubCoreMaxBytes+1))
	if err := assembleGrubDisk(disk, 8<<20, boot, big, part); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("oversized core.img: %v", err)
	}
}
