// Package diskimg writes the raw disk image files the test guests are
// assembled from: sized sparse files, an MBR partition entry, sparse
// copies into a disk at an offset, and plain file copies. Standard
// library only.
package diskimg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// The MBR disk layout both test guests use.
const (
	SectorSize     = 512
	PartitionStart = 2048 // first sector of the one partition (1 MiB aligned)
	BootCodeSize   = 440  // bytes of boot code in front of the disk signature
)

// WritePartitionEntry fills a 16-byte MBR partition entry: bootable, type
// 0x0c (FAT32 LBA, which firmware and syslinux accept for FAT16 too), with
// CHS values for the classic 255-head, 63-sector geometry. Callers that
// want another type overwrite byte 4.
func WritePartitionEntry(e []byte, start, count uint32) {
	e[0] = 0x80
	copy(e[1:4], chs(start))
	e[4] = 0x0c
	copy(e[5:8], chs(start+count-1))
	binary.LittleEndian.PutUint32(e[8:], start)
	binary.LittleEndian.PutUint32(e[12:], count)
}

func chs(lba uint32) []byte {
	const heads, sectors = 255, 63
	c := lba / (heads * sectors)
	if c > 1023 {
		return []byte{0xfe, 0xff, 0xff}
	}
	h := (lba / sectors) % heads
	s := lba%sectors + 1
	return []byte{byte(h), byte(s) | byte((c>>2)&0xc0), byte(c)}
}

// CopySparse copies src into dst at offset off, seeking over all-zero blocks.
func CopySparse(dst *os.File, src io.Reader, off int64) error {
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// CreateSized creates (or truncates) name as a sparse file of size bytes.
func CreateSized(name string, size int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CopyFile copies src to dst, creating or truncating dst.
func CopyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
