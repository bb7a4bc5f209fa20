package runtime

import (
	"encoding/xml"
	"fmt"

	"libvirt.org/go/libvirtxml"
)

// MetadataNS names the libvirt metadata element that marks our domains.
const MetadataNS = "https://github.com/podvm-migrate/podvm-migrate/runtime/v1"

// podMeta is what the metadata element <pod xmlns="MetadataNS"> records
// about a pod VM. Reading accepts any namespace: libvirt picks the element
// by MetadataNS and returns it without the declaration.
type podMeta struct {
	XMLName xml.Name // <pod>: the name and namespace to write, the name read
	Name    string   `xml:"name"`
	Image   string   `xml:"image"`
	Accel   string   `xml:"accel"`
	Reason  string   `xml:"accelReason"`
	Started string   `xml:"started"`
	State   string   `xml:"stateDir"`
}

// metadata renders the element as the domain's <metadata>.
func (m podMeta) metadata() (*libvirtxml.DomainMetadata, error) {
	m.XMLName = xml.Name{Space: MetadataNS, Local: "pod"}
	b, err := xml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("metadata of pod VM %s: %w", m.Name, err)
	}
	return &libvirtxml.DomainMetadata{XML: string(b)}, nil
}

// parseMeta reads the element as virDomainGetMetadata returns it for
// MetadataNS, or as the domain's <metadata> holds it.
func parseMeta(element string) (podMeta, error) {
	var m podMeta
	if err := xml.Unmarshal([]byte(element), &m); err != nil {
		return podMeta{}, fmt.Errorf("pod VM metadata: %w", err)
	}
	if m.XMLName.Local != "pod" {
		return podMeta{}, fmt.Errorf("pod VM metadata: element <%s>, want <pod>", m.XMLName.Local)
	}
	return m, nil
}
