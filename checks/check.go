// Package checks describes post-migration checks as a plan writes them: a
// TCP port that must accept connections, a ping, an HTTP(S) URL that must
// answer with a given status. It parses and validates them only; package
// checks/probe runs them against a pod VM. It uses the standard library
// only and opens no sockets, so the plan and everything that reads plans
// need not link the prober's network code.
package checks

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Check kinds.
const (
	KindTCP  = "tcp"  // tcp:PORT
	KindPing = "ping" // ping
	KindHTTP = "http" // http://…/path or https://…/path, with =STATUS
)

// DefaultStatus is the status an HTTP check expects when none is given.
const DefaultStatus = 200

// Check is one parsed check.
type Check struct {
	Kind   string
	Port   int      // tcp: the guest port; http: the URL's port (80 or 443 by default)
	URL    *url.URL // http: the URL, without the =STATUS suffix
	Status int      // http: the status expected
	spec   string
}

// Syntax is how a check is written, for error messages and help.
const Syntax = "tcp:PORT, ping, or http(s)://[HOST][:PORT]/PATH[=STATUS] (an empty HOST is the pod VM)"

// Parse reads one check: "tcp:22", "ping", "http://:8080/health=200",
// "https://web.example.com/=301". An HTTP check without =STATUS expects
// 200; one without a host goes to the pod VM.
func Parse(s string) (Check, error) {
	s = strings.TrimSpace(s)
	bad := func(format string, a ...any) (Check, error) {
		return Check{}, fmt.Errorf("check %q: %s; want %s", s, fmt.Sprintf(format, a...), Syntax)
	}
	switch {
	case s == KindPing:
		return Check{Kind: KindPing, spec: s}, nil
	case strings.HasPrefix(s, KindTCP+":"):
		p, err := parsePort(strings.TrimPrefix(s, KindTCP+":"))
		if err != nil {
			return bad("%v", err)
		}
		return Check{Kind: KindTCP, Port: p, spec: s}, nil
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		raw, status := s, DefaultStatus
		if i := strings.LastIndex(s, "="); i >= 0 && isStatus(s[i+1:]) {
			raw = s[:i]
			status, _ = strconv.Atoi(s[i+1:])
		}
		u, err := url.Parse(raw)
		if err != nil {
			return bad("%v", err)
		}
		if u.Fragment != "" || u.Opaque != "" {
			return bad("not a plain URL")
		}
		c := Check{Kind: KindHTTP, URL: u, Status: status, spec: s}
		c.Port = 80
		if u.Scheme == "https" {
			c.Port = 443
		}
		if p := u.Port(); p != "" {
			if c.Port, err = parsePort(p); err != nil {
				return bad("%v", err)
			}
		} else if strings.HasSuffix(u.Host, ":") {
			return bad("empty port")
		}
		return c, nil
	}
	return bad("unknown kind")
}

// isStatus reports whether s is a three-digit HTTP status (100-599).
func isStatus(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && len(s) == 3 && n >= 100 && n <= 599
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not 1-65535", s)
	}
	return n, nil
}

// MustParse is Parse for checks known to be valid (tests, constants).
func MustParse(s string) Check {
	c, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

// String is the check as it was written.
func (c Check) String() string { return c.spec }

// GuestPort is the guest TCP port the check connects to, or 0 when it
// needs none of the pod VM's ports (ping, a URL with its own host).
func (c Check) GuestPort() int {
	switch c.Kind {
	case KindTCP:
		return c.Port
	case KindHTTP:
		if c.URL.Hostname() == "" {
			return c.Port
		}
	}
	return 0
}

// ParseAll reads a list of checks; the error names the index of the bad one.
func ParseAll(specs []string) ([]Check, error) {
	out := make([]Check, 0, len(specs))
	for i, s := range specs {
		c, err := Parse(s)
		if err != nil {
			return nil, fmt.Errorf("checks[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}
