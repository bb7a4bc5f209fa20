package guest

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// MBR partition types that can hold nothing virt-v2v converts: empty,
// FAT12/16/32 and the EFI system partition.
var bootOnlyTypes = map[byte]bool{0x00: true, 0x01: true, 0x04: true, 0x06: true, 0x0b: true, 0x0c: true, 0x0e: true, 0xef: true}

// MayHoldOS reports whether the disk could hold an installed operating
// system, from its first sector alone: a GPT or a partitionless disk may; an
// MBR whose partitions are all FAT or EFI (a boot-only disk like the
// initramfs test guest) cannot. It lets auto mode skip such disks without
// starting libguestfs' appliance. The reason says what was seen.
func MayHoldOS(ctx context.Context, disk, format string) (bool, string, error) {
	img, err := convert.Open(disk, format, convert.PathPolicy{})
	if err != nil {
		return false, "", fmt.Errorf("guest conversion: %w", err)
	}
	defer img.Close()
	mbr, err := firstSector(ctx, img)
	if err != nil {
		return false, "", fmt.Errorf("guest conversion: %s: %w", disk, err)
	}
	return mbrMayHoldOS(mbr)
}

func mbrMayHoldOS(mbr []byte) (bool, string, error) {
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return true, "no partition table", nil
	}
	var types []string
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i : 446+16*(i+1)]
		t := e[4]
		if t == 0 || binary.LittleEndian.Uint32(e[12:]) == 0 {
			continue
		}
		types = append(types, fmt.Sprintf("%02x", t))
		if t == 0xee {
			return true, "GPT", nil
		}
		if !bootOnlyTypes[t] {
			return true, fmt.Sprintf("MBR partition of type %02x", t), nil
		}
	}
	return false, fmt.Sprintf("only FAT/EFI partitions (MBR types %v): no installed operating system to convert", types), nil
}

// firstSector reads the disk's first 512 bytes.
func firstSector(ctx context.Context, img block.Image) ([]byte, error) {
	buf := make([]byte, 512)
	for off := int64(0); off < int64(len(buf)); {
		r, err := img.Map(ctx, off, int64(len(buf))-off)
		if err != nil {
			return nil, err
		}
		if r.Kind == block.Data {
			if err := r.Read(ctx, buf[off:off+r.Length]); err != nil {
				return nil, err
			}
		}
		off += r.Length
	}
	return buf, nil
}
