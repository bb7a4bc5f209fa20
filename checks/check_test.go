package checks

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in        string
		kind      string
		port      int
		status    int
		guestPort int
		url       string
	}{
		{in: "tcp:22", kind: KindTCP, port: 22, guestPort: 22},
		{in: " ping ", kind: KindPing},
		{in: "http://:8080/health=200", kind: KindHTTP, port: 8080, status: 200, guestPort: 8080, url: "http://:8080/health"},
		{in: "http:///", kind: KindHTTP, port: 80, status: 200, guestPort: 80, url: "http:///"},
		{in: "https:///login=302", kind: KindHTTP, port: 443, status: 302, guestPort: 443, url: "https:///login"},
		{in: "http://web.example.com/a?x=1=204", kind: KindHTTP, port: 80, status: 204, url: "http://web.example.com/a?x=1"},
		{in: "http://:81/a?x=1", kind: KindHTTP, port: 81, status: 200, guestPort: 81, url: "http://:81/a?x=1"},
	} {
		c, err := Parse(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if c.Kind != tc.kind || c.Port != tc.port || c.Status != tc.status || c.GuestPort() != tc.guestPort || c.String() != strings.TrimSpace(tc.in) {
			t.Errorf("%q: %+v guest port %d", tc.in, c, c.GuestPort())
		}
		if tc.url != "" && c.URL.String() != tc.url {
			t.Errorf("%q: URL %s, want %s", tc.in, c.URL, tc.url)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "unknown kind",
		"tcp:":                 `port ""`,
		"tcp:0":                `port "0"`,
		"tcp:70000":            `port "70000"`,
		"tcp:ssh":              `port "ssh"`,
		"udp:53":               "unknown kind",
		"ping 10.0.0.1":        "unknown kind",
		"ftp://:21/":           "unknown kind",
		"http://:99999/":       `port "99999"`,
		"http://:/x":           "empty port",
		"http://:80/x#frag":    "not a plain URL",
		"http://[::1/x":        "missing ']'",
		"HTTP://:80/=200":      "unknown kind",
		"http://:8080/x=2000":  "", // a path ending in "=2000" is no status: valid
		"https://:8443/h=99":   "", // likewise
		"http://:8080/h=200 ":  "",
		"http://:8080/h==200x": "",
	} {
		_, err := Parse(in)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "want tcp:PORT")):
			t.Errorf("%q: error %v, want one with %q and the syntax", in, err, want)
		}
	}
	if _, err := ParseAll([]string{"tcp:22", "tcp:x"}); err == nil || !strings.HasPrefix(err.Error(), "checks[1]: ") {
		t.Errorf("ParseAll: %v", err)
	}
}
