package podvm

import (
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultSpec is the spec of a Linux pod VM with one virtio disk of the
// given capacity, SeaBIOS, one vCPU, 512 MiB and a virtio NIC on the pod
// network.
func DefaultSpec(name string, capacity int64) Spec {
	return Spec{
		Name:      name,
		Source:    SourceRef{Name: name},
		Firmware:  Firmware{Type: FirmwareBIOS},
		CPU:       CPU{Sockets: 1, Cores: 1, Threads: 1},
		MemoryMiB: 512,
		Mode:      ModeVirtio,
		Disks:     []Disk{{Name: "disk0", Bus: BusVirtio, CapacityBytes: capacity}},
		NICs:      []NIC{{Name: "nic0", Model: NICVirtio, Network: "pod"}},
	}
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// NameFromFile makes a DNS-1123 label from a file name: "Web 01.vmdk" -> "web-01".
func NameFromFile(p string) string {
	base := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	n := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if len(n) > 63 {
		n = strings.Trim(n[:63], "-")
	}
	if n == "" {
		n = "podvm"
	}
	return n
}
