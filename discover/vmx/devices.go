package vmx

import (
	"regexp"
	"sort"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

var (
	pciKey    = regexp.MustCompile(`^pcipassthru(\d+)\.present$`)
	usbKey    = regexp.MustCompile(`^usb:(\d+)\.present$`)
	serKey    = regexp.MustCompile(`^(serial|parallel)(\d+)\.present$`)
	floppyKey = regexp.MustCompile(`^floppy(\d+)\.(present|filename)$`)
	comPort   = regexp.MustCompile(`^(?i)(com|lpt)\d+$`)
)

// devices finds the host-bound devices: PCI passthrough and SR-IOV, USB,
// serial and parallel ports with their backings, floppy drives.
func devices(d Dict, vm *discover.VM) {
	st := &vm.State
	if d.Bool("usb.present", false) {
		st.Devices = append(st.Devices, discover.Device{Kind: discover.DeviceUSBController, Label: "usb", Detail: "ehci"})
	}
	if d.Bool("usb_xhci.present", false) {
		st.Devices = append(st.Devices, discover.Device{Kind: discover.DeviceUSBController, Label: "usb_xhci", Detail: "xhci"})
	}
	var keys []string
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	floppies := map[string]bool{}
	for _, k := range keys {
		if m := floppyKey.FindStringSubmatch(k); m != nil {
			p := "floppy" + m[1]
			// A floppy is there when present says so, or when it names a
			// file and present is not FALSE (old files omit present).
			if !floppies[p] && d.Bool(p+".present", d.Get(p+".fileName") != "") {
				floppies[p] = true
				st.Devices = append(st.Devices, port(d, discover.DeviceFloppy, p))
			}
			continue
		}
		if !d.Bool(k, false) {
			continue
		}
		switch {
		case pciKey.MatchString(k):
			p := strings.TrimSuffix(k, "present")
			kind, detail := discover.DevicePCIPassthrough, d.Get(p+"id")
			switch {
			case d.Get(p+"pfId") != "":
				kind, detail = discover.DeviceSRIOV, d.Get(p+"pfId")
			case d.Get(p+"vgpu") != "":
				kind, detail = discover.DeviceVGPU, d.Get(p+"vgpu")
			}
			st.Devices = append(st.Devices, discover.Device{Kind: kind, Label: strings.TrimSuffix(p, "."), Detail: detail})
		case usbKey.MatchString(k):
			p := strings.TrimSuffix(k, "present")
			st.Devices = append(st.Devices, discover.Device{Kind: discover.DeviceUSB, Label: strings.TrimSuffix(p, "."), Detail: d.Get(p + "path")})
		case serKey.MatchString(k):
			m := serKey.FindStringSubmatch(k)
			kind := discover.DeviceSerial
			if m[1] == "parallel" {
				kind = discover.DeviceParallel
			}
			st.Devices = append(st.Devices, port(d, kind, m[1]+m[2]))
		}
	}
}

// port describes a serial or parallel port or a floppy drive p (e.g.
// serial0) with its backing: fileType when set (file, pipe, network,
// device, thinprint), else guessed from fileName (a URI is network, a
// named pipe is a pipe, /dev/… or COMn a device, anything else a file).
func port(d Dict, kind discover.DeviceKind, p string) discover.Device {
	dev := discover.Device{Kind: kind, Label: p, Detail: d.Get(p + ".fileName")}
	if uri := d.Get(p + ".vspc"); uri != "" && dev.Detail == "" {
		dev.Detail = uri
	}
	switch t := strings.ToLower(d.Get(p + ".fileType")); {
	case t == "file":
		dev.Backing = discover.BackingFile
	case t == "pipe":
		dev.Backing = discover.BackingPipe
	case t == "network":
		dev.Backing = discover.BackingNetwork
	case t == "device":
		dev.Backing = discover.BackingDevice
	case t != "":
		dev.Backing = t
	case strings.Contains(dev.Detail, "://"):
		dev.Backing = discover.BackingNetwork
	case strings.HasPrefix(dev.Detail, `\\.\pipe\`):
		dev.Backing = discover.BackingPipe
	case strings.HasPrefix(dev.Detail, "/dev/") || comPort.MatchString(dev.Detail):
		dev.Backing = discover.BackingDevice
	case dev.Detail != "":
		dev.Backing = discover.BackingFile
	}
	return dev
}
