package vmx

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// ToVM maps the keys of the .vmx at path into the inventory model, reading
// the .vmdk descriptors it names. It never fails: what it cannot read (a
// missing disk, a disk on a datastore not mapped to a local folder) is a
// warning in vm.Warnings, and the VM is inventoried from its
// configuration alone.
func ToVM(path string, d Dict, o Options) discover.VM {
	return toVM(path, d, nil, o)
}

// defaultMemoryMiB is the memory a VM whose .vmx states none is planned
// with; the VM is then marked MemoryUnknown.
const defaultMemoryMiB = 32

// toVM is ToVM; lines, when known, place warnings about a key's value.
func toVM(path string, d Dict, lines Lines, o Options) discover.VM {
	vm := discover.VM{Source: discover.SourceRef{Kind: discover.SourceVMX, Path: path}}
	vm.Name = d.Get("displayName")
	if vm.Name == "" {
		vm.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	vm.Identity.BIOSUUID = vmxUUID(d.Get("uuid.bios"))
	vm.Identity.InstanceUUID = vmxUUID(d.Get("vc.uuid"))
	vm.Identity.Template = d.Bool("templateVM", false)
	if v := d.Get("guestOS"); v != "" {
		vm.Guest.GuestID = GuestID(v)
		vm.Guest.Family = discover.GuestFamily(vm.Guest.GuestID)
	}
	if d.Get("checkpoint.vmState") != "" {
		vm.State.Power = discover.Suspended
	}

	hw := &vm.Hardware
	if v := d.Get("virtualHW.version"); v != "" {
		hw.Version = "vmx-" + v
	}
	hw.Firmware = discover.FirmwareBIOS
	if strings.EqualFold(d.Get("firmware"), "efi") {
		hw.Firmware = discover.FirmwareEFI
		hw.SecureBoot = d.Bool("uefi.secureBoot.enabled", false)
	}
	hw.VTPM = d.Bool("vtpm.present", false)
	hw.CPUs = int(d.Int("numvcpus", 1))
	hw.CoresPerSocket = int(d.Int("cpuid.coresPerSocket", 1))
	if hw.CoresPerSocket < 1 || hw.CPUs%hw.CoresPerSocket != 0 {
		hw.CoresPerSocket = 1
	}
	hw.Sockets = hw.CPUs / hw.CoresPerSocket
	hw.MemoryMiB, hw.MemoryUnknown = memory(path, d, lines, &vm.Warnings)
	hw.CPUHotAdd = d.Bool("vcpu.hotadd", false)
	hw.MemoryHotAdd = d.Bool("mem.hotadd", false)
	vm.State.CBT = d.Bool("ctkEnabled", false)
	vm.State.CPUAffinity = intList(d.Get("sched.cpu.affinity"))
	vm.State.NUMAAffinity = intList(d.Get("numa.nodeAffinity"))

	storage(path, d, o, &vm)
	nics(d, &vm)
	devices(d, &vm)
	return vm
}

// vmxUUID turns "56 4d 50 4f 44 56 4d 2d-67 75 65 73 74 00 00 01" into
// 564d504f-4456-4d2d-6775-657374000001.
func vmxUUID(s string) string {
	h := strings.NewReplacer(" ", "", "-", "").Replace(s)
	if len(h) != 32 {
		return s
	}
	h = strings.ToLower(h)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func intList(s string) []int {
	var out []int
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return nil
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// memory reads memsize (MiB). When it is missing or not a positive whole
// number it warns, naming the file, the line and the key, and returns
// defaultMemoryMiB with unknown set.
func memory(path string, d Dict, lines Lines, warns *[]string) (mib int64, unknown bool) {
	const key = "memsize"
	if !d.Has(key) {
		*warns = append(*warns, fmt.Sprintf("%s: no %s key: memory size unknown, planned as %d MiB", path, key, defaultMemoryMiB))
		return defaultMemoryMiB, true
	}
	v := strings.TrimSpace(d.Get(key))
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil && n > 0 {
		return n, false
	}
	at := path
	if l := lines[key]; l > 0 {
		at = fmt.Sprintf("%s:%d", path, l)
	}
	*warns = append(*warns, fmt.Sprintf("%s: %s = %q: not a positive whole number of MiB: memory size unknown, planned as %d MiB",
		at, key, trunc(v), defaultMemoryMiB))
	return defaultMemoryMiB, true
}
