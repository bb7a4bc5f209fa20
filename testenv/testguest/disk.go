package testguest

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
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
	if err := diskimg.CreateSized(dst, partBytes); err != nil {
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
		if err := cmdrun.Run(ctx, s...); err != nil {
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
	if diskimg.PartitionStart*diskimg.SectorSize+st.Size() > diskBytes {
		return fmt.Errorf("disk: %d-byte partition does not fit a %d-byte disk", st.Size(), diskBytes)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	defer out.Close()
	mbr := make([]byte, diskimg.SectorSize)
	copy(mbr, code[:min(len(code), diskimg.BootCodeSize)])
	binary.LittleEndian.PutUint32(mbr[440:], 0x504f4456) // disk signature "VDOP"
	diskimg.WritePartitionEntry(mbr[446:462], diskimg.PartitionStart, uint32(st.Size()/diskimg.SectorSize))
	mbr[510], mbr[511] = 0x55, 0xaa
	if _, err := out.Write(mbr); err != nil {
		return fmt.Errorf("disk: write MBR: %w", err)
	}
	if err := diskimg.CopySparse(out, part, diskimg.PartitionStart*diskimg.SectorSize); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	if err := out.Truncate(diskBytes); err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	return out.Close()
}
