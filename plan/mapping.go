package plan

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// PodNetwork is the target network name for Kubernetes' pod network (and
// the runtime's user-mode network).
const PodNetwork = "pod"

// Network map targets only the included runtime understands: a libvirt
// network ("libvirt:default") or a host bridge ("bridge:br0").
const (
	LibvirtNetworkPrefix = "libvirt:"
	BridgePrefix         = "bridge:"
)

// IsRuntimeOnlyNetwork tells whether a network target is one only the
// included runtime can run (libvirt:NAME, bridge:NAME), not KubeVirt.
func IsRuntimeOnlyNetwork(target string) bool {
	return strings.HasPrefix(target, LibvirtNetworkPrefix) || strings.HasPrefix(target, BridgePrefix)
}

// CheckNetworkTarget checks a network map target: pod, NAMESPACE/NAME or
// NAME (a Multus network), libvirt:NAME or bridge:NAME.
func CheckNetworkTarget(target string) error {
	for _, p := range []string{LibvirtNetworkPrefix, BridgePrefix} {
		if name, ok := strings.CutPrefix(target, p); ok {
			if name == "" || strings.ContainsAny(name, " /:'\"<>&") {
				return fmt.Errorf("network target %q: want %sNAME with a non-empty name without spaces, '/' or ':'", target, p)
			}
			if p == BridgePrefix && len(name) > 15 {
				return fmt.Errorf("network target %q: a Linux interface name has at most 15 characters", target)
			}
			return nil
		}
	}
	if strings.Contains(target, ":") {
		return fmt.Errorf("network target %q: want pod, NAMESPACE/NAME (Multus), libvirt:NAME or bridge:NAME", target)
	}
	return nil
}

// ParseNetworkMapping reads "SRC=DST" as given to --network-map and checks
// the target (see CheckNetworkTarget).
func ParseNetworkMapping(s string) (Mapping, error) {
	m, err := ParseMapping(s)
	if err != nil {
		return m, err
	}
	if err := CheckNetworkTarget(m.Target); err != nil {
		return Mapping{}, fmt.Errorf("mapping %q: %w", s, err)
	}
	return m, nil
}

// Mapping maps a source network or datastore to a target network (pod,
// or a Multus network "namespace/name") or storage class. Source may be a
// glob; "*" maps everything not mapped otherwise.
type Mapping struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// Mappings are the network and storage maps a plan was made with.
type Mappings struct {
	Network []Mapping `json:"network,omitempty"`
	Storage []Mapping `json:"storage,omitempty"`
}

// ParseMapping reads "SRC=DST" as given to --network-map and --storage-map.
// The source may contain '=' only if quoted by the shell as a whole; the
// last '=' separates.
func ParseMapping(s string) (Mapping, error) {
	i := strings.LastIndex(s, "=")
	if i <= 0 || i == len(s)-1 {
		return Mapping{}, fmt.Errorf("mapping %q: want SOURCE=TARGET, e.g. \"VM Network=pod\"", s)
	}
	m := Mapping{Source: strings.TrimSpace(s[:i]), Target: strings.TrimSpace(s[i+1:])}
	if _, err := Glob(m.Source); err != nil {
		return Mapping{}, fmt.Errorf("mapping %q: %w", s, err)
	}
	return m, nil
}

// mappingFile is the file form of the mappings:
//
//	network:
//	  VM Network: pod
//	  DMZ: default/dmz
//	  Backup: libvirt:default
//	  Storage LAN: bridge:br0
//	storage:
//	  datastore1: fast-ssd
type mappingFile struct {
	Network map[string]string `json:"network"`
	Storage map[string]string `json:"storage"`
}

// LoadMappings reads a mapping file (YAML or JSON, see mappingFile).
func LoadMappings(file string) (Mappings, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Mappings{}, fmt.Errorf("mapping file: %w", err)
	}
	var mf mappingFile
	if err := checkDoc(b, &mf); err != nil {
		var de *DocError
		if errors.As(err, &de) {
			return Mappings{}, fmt.Errorf("mapping file %s (want 'network:' and 'storage:' maps of SOURCE: TARGET)", de.In(file))
		}
		return Mappings{}, fmt.Errorf("mapping file %s: %w", file, err)
	}
	if err := yaml.UnmarshalStrict(b, &mf); err != nil {
		return Mappings{}, fmt.Errorf("mapping file %s: %w (want 'network:' and 'storage:' maps of SOURCE: TARGET)", file, err)
	}
	var m Mappings
	for _, kind := range []struct {
		name string
		in   map[string]string
		out  *[]Mapping
	}{{"network", mf.Network, &m.Network}, {"storage", mf.Storage, &m.Storage}} {
		for src, dst := range kind.in {
			if strings.TrimSpace(dst) == "" {
				return Mappings{}, fmt.Errorf("mapping file %s: %s.%s: empty target", file, kind.name, src)
			}
			parse := ParseMapping
			if kind.name == "network" {
				parse = ParseNetworkMapping
			}
			mp, err := parse(src + "=" + dst)
			if err != nil {
				return Mappings{}, fmt.Errorf("mapping file %s: %s: %w", file, kind.name, err)
			}
			*kind.out = append(*kind.out, mp)
		}
	}
	sortMappings(m.Network)
	sortMappings(m.Storage)
	return m, nil
}

// sortMappings puts exact names before globs, so lookups are deterministic.
func sortMappings(ms []Mapping) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && less(ms[j], ms[j-1]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

func less(a, b Mapping) bool {
	ga, gb := isGlob(a.Source), isGlob(b.Source)
	if ga != gb {
		return !ga
	}
	return a.Source < b.Source
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// lookup returns the target of the first mapping matching name: exact
// names first, then globs in order.
func lookup(ms []Mapping, name string) (string, bool) {
	for _, m := range ms {
		if !isGlob(m.Source) && m.Source == name {
			return m.Target, true
		}
	}
	for _, m := range ms {
		if g, err := Glob(m.Source); err == nil && isGlob(m.Source) && g.MatchString(name) {
			return m.Target, true
		}
	}
	return "", false
}

// Glob compiles a shell pattern for names: '*' matches any run of
// characters and '?' any one, '/' included (network, folder and VM names
// often contain it), and [...] a class. The whole name must match.
func Glob(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("pattern %q: '[' without ']'", pattern)
			}
			class := pattern[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return re, nil
}
