package guest

import (
	"encoding/binary"
	"testing"
)

func TestMBRMayHoldOS(t *testing.T) {
	mbr := func(types ...byte) []byte {
		b := make([]byte, 512)
		for i, ty := range types {
			e := b[446+16*i:]
			e[4] = ty
			binary.LittleEndian.PutUint32(e[8:], 2048)
			binary.LittleEndian.PutUint32(e[12:], 4096)
		}
		b[510], b[511] = 0x55, 0xaa
		return b
	}
	for _, tc := range []struct {
		name string
		mbr  []byte
		want bool
	}{
		{"blank disk", make([]byte, 512), true},
		{"linux", mbr(0x83), true},
		{"fat boot + lvm", mbr(0x0c, 0x8e), true},
		{"gpt", mbr(0xee), true},
		{"fat only (the initramfs test guest)", mbr(0x0c), false},
		{"efi + fat", mbr(0xef, 0x06), false},
		{"empty table", mbr(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := mbrMayHoldOS(tc.mbr)
			if err != nil || got != tc.want || why == "" {
				t.Errorf("mbrMayHoldOS = %v, %q, %v; want %v", got, why, err, tc.want)
			}
		})
	}
}
