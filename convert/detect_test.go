package convert

import (
	"encoding/binary"
	"strings"
	"testing"
)

// TestDetect names the format of a file from its first bytes, so that an
// extent opened on its own is read as a VMDK (and refused with advice)
// rather than copied as a raw disk.
func TestDetect(t *testing.T) {
	sesparse := make([]byte, 512)
	binary.LittleEndian.PutUint64(sesparse, 0xcafebabe)
	qcow := []byte{'Q', 'F', 'I', 0xfb, 0, 0, 0, 3}
	cases := []struct {
		name string
		head []byte
		want string
	}{
		{"disk.qcow2", qcow, FormatQCOW2},
		{"disk.vmdk", []byte("KDMV\x01\x00\x00\x00"), FormatVMDK},
		{"disk-delta.vmdk", []byte("COWD\x01\x00\x00\x00"), FormatVMDK},
		{"disk-sesparse.vmdk", sesparse, FormatVMDK},
		{"disk.vmdk", []byte("# Disk DescriptorFile\nversion=1\n"), FormatVMDK},
		{"odd.bin", []byte("# Disk DescriptorFile\n"), FormatVMDK},
		{"disk.img", make([]byte, 512), FormatRaw},
		{"disk.vmdk", append([]byte{0xeb, 0x63, 0x90}, make([]byte, 509)...), FormatRaw},
		{"text.raw", []byte(strings.Repeat("hello ", 100)), FormatRaw},
	}
	for _, c := range cases {
		if got := detect(c.head, c.name); got != c.want {
			t.Errorf("%s (%q…): %s, want %s", c.name, c.head[:min(8, len(c.head))], got, c.want)
		}
	}
}
