// Package ovf discovers VMs from OVF descriptors (.ovf) and OVA archives
// (.ova: a tar holding the descriptor, manifest and disks).
package ovf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// Envelope is the part of an OVF envelope discovery reads. Element and
// attribute names match whatever their namespace prefix (ovf:, rasd:,
// vmw:, …), as real files mix them.
type Envelope struct {
	Files      []File          `xml:"References>File"`
	Deployment []Configuration `xml:"DeploymentOptionSection>Configuration"`
	Disks      []Disk          `xml:"DiskSection>Disk"`
	Networks   []Network       `xml:"NetworkSection>Network"`
	Systems    []VirtualSystem `xml:"VirtualSystem"`
	Collection *Collection     `xml:"VirtualSystemCollection"`
}

// Configuration is a deployment option of the DeploymentOptionSection:
// items whose ovf:configuration names it count only when it is chosen.
type Configuration struct {
	ID      string `xml:"id,attr"`
	Default string `xml:"default,attr"`
	Label   string `xml:"Label"`
}

// Collection is a VirtualSystemCollection (a multi-VM package).
type Collection struct {
	Systems     []VirtualSystem `xml:"VirtualSystem"`
	Collections []Collection    `xml:"VirtualSystemCollection"`
}

// File is a References/File entry.
type File struct {
	ID        string `xml:"id,attr"`
	Href      string `xml:"href,attr"`
	Size      string `xml:"size,attr"`
	ChunkSize string `xml:"chunkSize,attr"` // set when the file is split into Href.000000000, Href.000000001, …
}

// Disk is a DiskSection/Disk entry.
type Disk struct {
	ID            string `xml:"diskId,attr"`
	FileRef       string `xml:"fileRef,attr"`
	Capacity      string `xml:"capacity,attr"`
	CapacityUnits string `xml:"capacityAllocationUnits,attr"`
	Format        string `xml:"format,attr"`
}

// Network is a NetworkSection/Network entry.
type Network struct {
	Name string `xml:"name,attr"`
}

// VirtualSystem is one VM.
type VirtualSystem struct {
	ID         string            `xml:"id,attr"`
	Name       string            `xml:"Name"`
	OS         OperatingSystem   `xml:"OperatingSystemSection"`
	Hardware   []HardwareSection `xml:"VirtualHardwareSection"`
	Deployment []Configuration   `xml:"DeploymentOptionSection>Configuration"`
	Inner      []byte            `xml:",innerxml"` // every section, for the firmware whichever section states it
}

// OperatingSystem is the OperatingSystemSection: a CIM OS code and VMware's guest id.
type OperatingSystem struct {
	ID          string `xml:"id,attr"`
	OSType      string `xml:"osType,attr"`
	Description string `xml:"Description"`
}

// HardwareSection is a VirtualHardwareSection.
type HardwareSection struct {
	SystemType   string   `xml:"System>VirtualSystemType"`
	Items        []Item   `xml:"Item"`
	StorageItems []Item   `xml:"StorageItem"`      // OVF 2
	EthernetPort []Item   `xml:"EthernetPortItem"` // OVF 2
	Configs      []Config `xml:"Config"`
	ExtraConfigs []Config `xml:"ExtraConfig"`
}

// Item is a resource allocation (rasd:, sasd: or epasd: elements).
type Item struct {
	Configuration       string   `xml:"configuration,attr"` // deployment options the item belongs to, space separated; empty: all
	Bound               string   `xml:"bound,attr"`         // min, max or normal for a range; only normal (or none) counts
	Address             string   `xml:"Address"`
	AddressOnParent     string   `xml:"AddressOnParent"`
	AllocationUnits     string   `xml:"AllocationUnits"`
	AutomaticAllocation string   `xml:"AutomaticAllocation"`
	Connection          []string `xml:"Connection"`
	Description         string   `xml:"Description"`
	ElementName         string   `xml:"ElementName"`
	HostResource        []string `xml:"HostResource"`
	InstanceID          string   `xml:"InstanceID"`
	Parent              string   `xml:"Parent"`
	ResourceSubType     string   `xml:"ResourceSubType"`
	ResourceType        string   `xml:"ResourceType"`
	VirtualQuantity     string   `xml:"VirtualQuantity"`
	CoresPerSocket      string   `xml:"CoresPerSocket"`
	Configs             []Config `xml:"Config"`
}

// Config is a vmw:Config or vmw:ExtraConfig key/value pair.
type Config struct {
	Key   string `xml:"key,attr"`
	Value string `xml:"value,attr"`
}

// maxDescriptor bounds an OVF descriptor; real ones are tens of KiB.
const maxDescriptor = 32 << 20

// ParseEnvelope decodes an OVF descriptor. Syntax errors carry name and
// the line.
func ParseEnvelope(name string, r io.Reader) (*Envelope, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDescriptor+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxDescriptor {
		return nil, fmt.Errorf("%s: descriptor larger than %d MiB", name, maxDescriptor>>20)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = charsetReader
	var env struct {
		XMLName xml.Name
		Envelope
	}
	if err := dec.Decode(&env); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s:%d: %s", name, se.Line, se.Msg)
		}
		line, _ := dec.InputPos()
		return nil, fmt.Errorf("%s:%d: %w", name, line, err)
	}
	if env.XMLName.Local != "Envelope" {
		return nil, fmt.Errorf("%s: root element <%s>: not an OVF envelope", name, env.XMLName.Local)
	}
	return &env.Envelope, nil
}

// charsetReader decodes an XML declaration's encoding other than UTF-8.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	e, err := htmlindex.Get(label)
	if err != nil {
		return nil, fmt.Errorf("encoding %q: %w", label, err)
	}
	return e.NewDecoder().Reader(in), nil
}

// AllSystems returns the VirtualSystems of the envelope, collections included.
func (e *Envelope) AllSystems() []VirtualSystem {
	out := append([]VirtualSystem(nil), e.Systems...)
	var walk func(c *Collection)
	walk = func(c *Collection) {
		out = append(out, c.Systems...)
		for i := range c.Collections {
			walk(&c.Collections[i])
		}
	}
	if e.Collection != nil {
		walk(e.Collection)
	}
	return out
}

// UnitBytes returns how many bytes one unit of a DMTF programmatic unit
// string stands for: "byte", "byte * 2^20", "byte*10^9", "KiloBytes",
// "MegaBytes", "GigaBytes", "MB", … An empty string means bytes.
func UnitBytes(units string) (int64, error) {
	s := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(units), " ", ""))
	switch s {
	case "", "byte", "bytes", "b":
		return 1, nil
	case "kilobytes", "kb", "kib":
		return 1 << 10, nil
	case "megabytes", "mb", "mib":
		return 1 << 20, nil
	case "gigabytes", "gb", "gib":
		return 1 << 30, nil
	case "terabytes", "tb", "tib":
		return 1 << 40, nil
	}
	rest, ok := strings.CutPrefix(s, "byte*")
	if !ok {
		return 0, fmt.Errorf("allocation units %q: want byte * 2^N or a named unit", units)
	}
	base, exp, ok := strings.Cut(rest, "^")
	if !ok {
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("allocation units %q", units)
		}
		return n, nil
	}
	b, err1 := strconv.ParseInt(base, 10, 64)
	e, err2 := strconv.Atoi(exp)
	if err1 != nil || err2 != nil || b < 2 || e < 0 || e > 62 {
		return 0, fmt.Errorf("allocation units %q", units)
	}
	n := int64(1)
	for i := 0; i < e; i++ {
		if n > (1<<62)/b {
			return 0, fmt.Errorf("allocation units %q: too large", units)
		}
		n *= b
	}
	return n, nil
}
