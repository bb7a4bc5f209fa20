package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Disk file formats an image build accepts.
const (
	FormatQCOW2 = "qcow2"
	FormatVMDK  = "vmdk"
	FormatRaw   = "raw"
)

// diskHeader is what the first bytes of a disk file say about it.
type diskHeader struct {
	Format      string
	VirtualSize int64 // guest-visible size; for raw the file size
	HasBacking  bool  // a qcow2 with a backing file cannot go into an image alone
}

// readDiskHeader identifies a disk file by its magic: qcow2 ("QFI\xfb"),
// VMDK sparse ("KDMV") or a VMDK descriptor; anything else is raw.
func readDiskHeader(path string) (*diskHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("disk %s: not a regular file", path)
	}
	buf := make([]byte, 512)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	buf = buf[:n]
	h := &diskHeader{Format: FormatRaw, VirtualSize: st.Size()}
	switch {
	case len(buf) >= 32 && bytes.Equal(buf[:4], []byte("QFI\xfb")):
		h.Format = FormatQCOW2
		h.HasBacking = binary.BigEndian.Uint64(buf[8:16]) != 0
		h.VirtualSize = int64(binary.BigEndian.Uint64(buf[24:32]))
	case len(buf) >= 20 && bytes.Equal(buf[:4], []byte("KDMV")):
		h.Format = FormatVMDK
		h.VirtualSize = int64(binary.LittleEndian.Uint64(buf[12:20])) * 512
	case strings.HasPrefix(string(buf), "# Disk DescriptorFile"):
		return nil, fmt.Errorf("disk %s: a VMDK descriptor with separate extents; convert it first", path)
	}
	return h, nil
}

// convertToQCOW2 converts a raw or VMDK disk to a compressed-free qcow2 with
// qemu-img (until convert/ offers a native engine).
func convertToQCOW2(ctx context.Context, in, format, out string) error {
	cmd := exec.CommandContext(ctx, "qemu-img", "convert", "-f", format, "-O", "qcow2", in, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img convert %s to qcow2: %w: %s", in, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// DiskFormat reads a disk file's format (qcow2, vmdk or raw) and its
// guest-visible size from its header.
func DiskFormat(path string) (format string, virtualSize int64, err error) {
	h, err := readDiskHeader(path)
	if err != nil {
		return "", 0, err
	}
	return h.Format, h.VirtualSize, nil
}
