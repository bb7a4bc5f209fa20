package ovf

import (
	"bytes"
	"encoding/xml"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// firmwareStatement is what one section of a VirtualSystem says about the
// boot firmware.
type firmwareStatement struct {
	firmware   discover.Firmware
	secureBoot bool
	from       string // the element that said it, for messages
}

// firmwareOf looks through every section of a VirtualSystem (its inner
// XML) for the first that states the firmware: VMware's
// vmw:Config key="firmware", a Firmware element (type attribute or text,
// as VirtualBox and others write it), oVirt's BiosType, a Hyper-V
// generation 2 VirtualSystemSubType, or a firmware attribute. ok is false
// when none does.
func firmwareOf(inner []byte) (firmwareStatement, bool) {
	dec := xml.NewDecoder(bytes.NewReader(inner))
	dec.Strict = false
	dec.CharsetReader = charsetReader
	var open string // local name of the element whose text is wanted
	for {
		tok, err := dec.Token()
		if err != nil {
			return firmwareStatement{}, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			open = ""
			name := strings.ToLower(t.Name.Local)
			attrs := map[string]string{}
			for _, a := range t.Attr {
				attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			if strings.EqualFold(attrs["key"], "firmware") {
				if s, ok := firmwareWord(attrs["value"], "vmw:Config firmware"); ok {
					return s, true
				}
			}
			if v, ok := attrs["firmware"]; ok {
				if s, ok := firmwareWord(v, t.Name.Local+" firmware attribute"); ok {
					return s, true
				}
			}
			switch name {
			case "firmware":
				if s, ok := firmwareWord(attrs["type"], "Firmware type"); ok {
					return s, true
				}
				open = name
			case "biostype", "virtualsystemsubtype":
				open = name
			}
		case xml.CharData:
			text := strings.TrimSpace(string(t))
			switch open {
			case "firmware":
				if s, ok := firmwareWord(text, "Firmware"); ok {
					return s, true
				}
			case "biostype":
				// oVirt: 1 i440fx SeaBIOS, 2 q35 SeaBIOS, 3 q35 OVMF, 4 q35 OVMF with secure boot.
				switch text {
				case "1", "2":
					return firmwareStatement{discover.FirmwareBIOS, false, "BiosType " + text}, true
				case "3":
					return firmwareStatement{discover.FirmwareEFI, false, "BiosType 3"}, true
				case "4":
					return firmwareStatement{discover.FirmwareEFI, true, "BiosType 4"}, true
				}
			case "virtualsystemsubtype":
				switch {
				case strings.HasSuffix(text, "SubType:2"):
					return firmwareStatement{discover.FirmwareEFI, false, "VirtualSystemSubType " + text}, true
				case strings.HasSuffix(text, "SubType:1"):
					return firmwareStatement{discover.FirmwareBIOS, false, "VirtualSystemSubType " + text}, true
				}
			}
			open = ""
		case xml.EndElement:
			open = ""
		}
	}
}

// firmwareWord reads efi, uefi, bios, legacy (any case).
func firmwareWord(v, from string) (firmwareStatement, bool) {
	switch l := strings.ToLower(strings.TrimSpace(v)); {
	case l == "efi" || l == "uefi" || strings.HasPrefix(l, "efi") || strings.HasPrefix(l, "uefi"):
		return firmwareStatement{firmware: discover.FirmwareEFI, from: from}, true
	case l == "bios" || l == "legacy" || l == "pcbios":
		return firmwareStatement{firmware: discover.FirmwareBIOS, from: from}, true
	}
	return firmwareStatement{}, false
}
