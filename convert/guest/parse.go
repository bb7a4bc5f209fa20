package guest

import (
	"bufio"
	"bytes"
	"regexp"
	"sort"
	"strings"
)

// Inspection is what libguestfs' inspection found in the guest, as
// virt-v2v's verbose log reports it.
type Inspection struct {
	Root           string `json:"root,omitempty"`
	Type           string `json:"type,omitempty"`
	Distro         string `json:"distro,omitempty"`
	ProductName    string `json:"productName,omitempty"`
	OSInfo         string `json:"osinfo,omitempty"` // libosinfo short ID, e.g. debian12
	Arch           string `json:"arch,omitempty"`
	Hostname       string `json:"hostname,omitempty"`
	PackageFormat  string `json:"packageFormat,omitempty"`
	PackageManager string `json:"packageManager,omitempty"`
}

var (
	// stepRE matches virt-v2v's progress lines, "[  12.3] Doing something",
	// and not the appliance kernel's "[    0.000000] ..." on the same pipe.
	stepRE = regexp.MustCompile(`^\[\s*[0-9]+\.[0-9]\]\s+(.+?)\s*$`)
	// traceRE matches libguestfs' trace of an inspection call's answer.
	traceRE = regexp.MustCompile(`^libguestfs: trace: v2v: inspect_(os|get_[a-z_]+) = (.+)$`)
	// removeRE matches the package removal virt-v2v runs in the guest.
	removeRE = regexp.MustCompile(`^libguestfs: trace: v2v: command "(?:dpkg --purge|rpm -e|apt-get -y remove|yum -y remove|dnf -y remove|zypper -n rm) ([^"]+)"`)
	// logPrefixRE matches a line of another writer (libguestfs:, guestfsd:,
	// commandrvf:, …), which ends a wrapped warning.
	logPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+: `)
	// commandRE matches a command virt-v2v runs inside the guest.
	commandRE = regexp.MustCompile(`^libguestfs: trace: v2v: command "([^"]+)"$`)
	// moduleRE matches a module virt-v2v adds to the initramfs list.
	moduleRE = regexp.MustCompile(`^libguestfs: trace: v2v: aug_clear "/files/etc/initramfs-tools/modules/([A-Za-z0-9_-]+)"$`)
	// firstbootRE matches a first-boot script that installs packages.
	firstbootRE = regexp.MustCompile(`^libguestfs: trace: v2v: write "/usr/lib/virt-sysprep/scripts/[^"]*" ".*install '([^']+)'`)
)

// progressStep returns the text of a "[  12.3] Doing something" line.
func progressStep(line string) (string, bool) {
	m := stepRE.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// parseLog fills res from virt-v2v's verbose log: progress steps,
// warnings, the inspection block and the packages it removed.
func parseLog(log []byte, res *Result) {
	removed := map[string]bool{}
	var warn *strings.Builder
	endWarn := func() {
		if warn != nil {
			res.Warnings = append(res.Warnings, strings.Join(strings.Fields(warn.String()), " "))
			warn = nil
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := progressStep(line); ok {
			endWarn()
			res.Steps = append(res.Steps, s)
			continue
		}
		if i := strings.Index(line, ": warning: "); i >= 0 && strings.HasPrefix(line, "virt-v2v") {
			endWarn()
			warn = &strings.Builder{}
			warn.WriteString(line[i+len(": warning: "):])
			continue
		}
		if warn != nil {
			if strings.TrimSpace(line) == "" || logPrefixRE.MatchString(line) {
				endWarn()
			} else {
				warn.WriteString(" " + line)
			}
		}
		if m := traceRE.FindStringSubmatch(line); m != nil {
			setInspect(&res.Inspection, m[1], strings.Trim(m[2], `"[]`))
		}
		if m := commandRE.FindStringSubmatch(line); m != nil && !strings.HasPrefix(m[1], "/usr/bin/perl ") {
			res.Commands = append(res.Commands, m[1])
		}
		if m := moduleRE.FindStringSubmatch(line); m != nil {
			res.InitramfsModules = appendNew(res.InitramfsModules, m[1])
		}
		if m := firstbootRE.FindStringSubmatch(line); m != nil {
			res.FirstBoot = appendNew(res.FirstBoot, "install "+m[1])
		}
		if m := removeRE.FindStringSubmatch(line); m != nil {
			for _, p := range strings.Fields(m[1]) {
				removed[p] = true
			}
		}
	}
	endWarn()
	for p := range removed {
		res.Removed = append(res.Removed, p)
	}
	sort.Strings(res.Removed)
}

func setInspect(in *Inspection, k, v string) {
	p := map[string]*string{"os": &in.Root, "get_type": &in.Type, "get_distro": &in.Distro, "get_product_name": &in.ProductName,
		"get_osinfo": &in.OSInfo, "get_package_format": &in.PackageFormat, "get_package_management": &in.PackageManager,
		"get_hostname": &in.Hostname, "get_arch": &in.Arch}[k]
	if p != nil && *p == "" {
		*p = v
	}
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// lastError returns virt-v2v's error line, or the log's last line.
func lastError(log []byte) string {
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], ": error: ") && strings.HasPrefix(lines[i], "virt-v2v") {
			return strings.TrimSpace(lines[i])
		}
	}
	if len(lines) > 0 {
		return strings.TrimSpace(lines[len(lines)-1])
	}
	return ""
}
