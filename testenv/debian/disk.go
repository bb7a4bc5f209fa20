package debian

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
)

// grubCoreMaxBytes is what fits between the MBR and the first partition.
const grubCoreMaxBytes = (diskimg.PartitionStart - 1) * diskimg.SectorSize

// installGrubFiles copies GRUB's BIOS modules into root/boot/grub/i386-pc
// (as grub-install would), writes grub.cfg and builds core.img into dst
// with the root's own grub-mkimage: a core that loads its modules and
// configuration from the first partition, so nothing needs mounting.
func installGrubFiles(ctx context.Context, root, release, rootUUID, dst string) error {
	src := filepath.Join(root, "usr/lib/grub/i386-pc")
	mods := filepath.Join(root, "boot/grub/i386-pc")
	if err := os.MkdirAll(mods, 0o755); err != nil {
		return fmt.Errorf("grub: %w", err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("grub: %w (is grub-pc-bin in the root?)", err)
	}
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".mod", ".lst", ".img":
			if err := diskimg.CopyFile(filepath.Join(mods, e.Name()), filepath.Join(src, e.Name())); err != nil {
				return fmt.Errorf("grub: %w", err)
			}
		}
	}
	cfg := fmt.Sprintf(debianGrubConfig, release, rootUUID)
	if err := os.WriteFile(filepath.Join(root, "boot/grub/grub.cfg"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("grub: %w", err)
	}
	const inRoot = "/podvm-core.img"
	if err := cmdrun.Run(ctx, "chroot", root, "grub-mkimage", "-d", "/usr/lib/grub/i386-pc", "-O", "i386-pc",
		"-o", inRoot, "-p", "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "ext2"); err != nil {
		return fmt.Errorf("grub: %w", err)
	}
	if err := os.Rename(filepath.Join(root, inRoot), dst); err != nil {
		return fmt.Errorf("grub: %w", err)
	}
	return nil
}

// assembleGrubDisk writes a BIOS disk of diskBytes: GRUB's boot.img in the
// MBR, its core.img in the gap after it (boot.img reads sector 1 and
// core.img's block list, as grub-mkimage leaves it, the sectors after),
// and one bootable Linux partition at sector 2048 holding partImage.
func assembleGrubDisk(dst string, diskBytes int64, bootImg, coreImg, partImage string) error {
	boot, err := os.ReadFile(bootImg)
	if err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	core, err := os.ReadFile(coreImg)
	if err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	if len(core) > grubCoreMaxBytes {
		return fmt.Errorf("disk %s: core.img of %d bytes does not fit before sector %d", dst, len(core), diskimg.PartitionStart)
	}
	part, err := os.Open(partImage)
	if err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	defer part.Close()
	st, err := part.Stat()
	if err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	if diskimg.PartitionStart*diskimg.SectorSize+st.Size() > diskBytes {
		return fmt.Errorf("disk %s: %d-byte partition does not fit a %d-byte disk", dst, st.Size(), diskBytes)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	defer out.Close()
	mbr := make([]byte, diskimg.SectorSize)
	copy(mbr, boot[:min(len(boot), diskimg.BootCodeSize)])
	binary.LittleEndian.PutUint32(mbr[440:], 0x44424450) // disk signature "PDBD"
	diskimg.WritePartitionEntry(mbr[446:462], diskimg.PartitionStart, uint32(st.Size()/diskimg.SectorSize))
	mbr[446+4] = 0x83 // Linux
	mbr[510], mbr[511] = 0x55, 0xaa
	if _, err := out.Write(mbr); err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	if _, err := out.WriteAt(core, diskimg.SectorSize); err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	if err := diskimg.CopySparse(out, part, diskimg.PartitionStart*diskimg.SectorSize); err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	if err := out.Truncate(diskBytes); err != nil {
		return fmt.Errorf("disk %s: %w", dst, err)
	}
	return out.Close()
}
