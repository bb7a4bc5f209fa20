package testenv

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

const (
	sectorSize      = 512
	partitionStart  = 2048 // first sector of the boot partition (1 MiB aligned)
	mbrBootCodeSize = 440
)

// syslinuxConfig boots the kernel with the console on the first serial port.
// Absolute paths let the same file serve BIOS syslinux (which reads
// /syslinux.cfg) and syslinux.efi (which reads EFI/BOOT/syslinux.cfg).
const syslinuxConfig = `SERIAL 0 115200
DEFAULT podvm
TIMEOUT 0
PROMPT 0
LABEL podvm
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0,115200 quiet panic=-1%s
`

// bootFiles are the host files a hybrid BIOS+UEFI syslinux disk needs.
type bootFiles struct {
	MBR         string // syslinux mbr.bin
	SyslinuxEFI string // syslinux.efi for x86_64, becomes EFI/BOOT/BOOTX64.EFI
	LdlinuxE64  string // its core module
}

func defaultBootFiles() bootFiles {
	return bootFiles{
		MBR:         "/usr/lib/syslinux/mbr/mbr.bin",
		SyslinuxEFI: "/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi",
		LdlinuxE64:  "/usr/lib/syslinux/modules/efi64/ldlinux.e64",
	}
}

// buildBootPartition makes a FAT16 file system image of partBytes holding the
// kernel, initramfs and syslinux for both BIOS and UEFI.
func buildBootPartition(ctx context.Context, dst string, partBytes int64, vmlinuz, initrd string, bf bootFiles, powerOff bool) error {
	if err := createSized(dst, partBytes); err != nil {
		return err
	}
	extra := ""
	if powerOff {
		extra = " " + PowerOffArg
	}
	cfg := dst + ".cfg"
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(syslinuxConfig, extra)), 0o644); err != nil {
		return fmt.Errorf("boot partition: %w", err)
	}
	defer os.Remove(cfg)
	steps := [][]string{
		{"mkfs.vfat", "-F", "16", "-n", "PODVM", dst},
		{"syslinux", "--install", dst},
		{"mmd", "-i", dst, "::EFI", "::EFI/BOOT"},
		{"mcopy", "-i", dst, vmlinuz, "::vmlinuz"},
		{"mcopy", "-i", dst, initrd, "::initrd.img"},
		{"mcopy", "-i", dst, cfg, "::syslinux.cfg"},
		{"mcopy", "-i", dst, bf.SyslinuxEFI, "::EFI/BOOT/BOOTX64.EFI"},
		{"mcopy", "-i", dst, bf.LdlinuxE64, "::EFI/BOOT/ldlinux.e64"},
		{"mcopy", "-i", dst, cfg, "::EFI/BOOT/syslinux.cfg"},
	}
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return fmt.Errorf("boot partition %s: %w", dst, err)
		}
	}
	return nil
}

// assembleDisk writes a disk image of diskBytes: syslinux's MBR boot code, a
// DOS partition table with one bootable FAT16 (LBA) partition at sector 2048,
// and the partition image. Zero blocks stay holes, so the file is sparse.
func assembleDisk(dst string, diskBytes int64, partImage, mbrCode string) error {
	code, err := os.ReadFile(mbrCode)
	if err != nil {
		return fmt.Errorf("disk: read MBR boot code: %w (install syslinux-common)", err)
	}
	part, err := os.Open(partImage)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	defer part.Close()
	st, err := part.Stat()
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	if partitionStart*sectorSize+st.Size() > diskBytes {
		return fmt.Errorf("disk: %d-byte partition does not fit a %d-byte disk", st.Size(), diskBytes)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	defer out.Close()
	mbr := make([]byte, sectorSize)
	copy(mbr, code[:min(len(code), mbrBootCodeSize)])
	binary.LittleEndian.PutUint32(mbr[440:], 0x504f4456) // disk signature "VDOP"
	writePartitionEntry(mbr[446:462], partitionStart, uint32(st.Size()/sectorSize))
	mbr[510], mbr[511] = 0x55, 0xaa
	if _, err := out.Write(mbr); err != nil {
		return fmt.Errorf("disk: write MBR: %w", err)
	}
	if err := copySparse(out, part, partitionStart*sectorSize); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	if err := out.Truncate(diskBytes); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	return out.Close()
}

// writePartitionEntry fills a 16-byte MBR partition entry: bootable, type
// 0x0c (FAT32 LBA, which firmware and syslinux accept for FAT16 too), with
// CHS values for the classic 255-head, 63-sector geometry.
func writePartitionEntry(e []byte, start, count uint32) {
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

// copySparse copies src into dst at offset off, seeking over all-zero blocks.
func copySparse(dst *os.File, src io.Reader, off int64) error {
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

func createSized(name string, size int64) error {
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

// run runs a host tool and turns a failure into an error carrying its output.
func run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, lastLine(out))
	}
	return nil
}
