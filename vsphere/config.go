package vsphere

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Config says how to reach and trust a vCenter or ESXi endpoint. It reads
// the same environment as govc, so govc users feel at home. The password is
// never printed: String and the JSON form leave it out.
type Config struct {
	URL          string `json:"url"`                    // https://host/sdk; scheme and path default like govc
	Username     string `json:"username,omitempty"`     // GOVC_USERNAME, or the URL's user
	Password     string `json:"-"`                      // GOVC_PASSWORD, the URL's password, or PasswordFile
	PasswordFile string `json:"passwordFile,omitempty"` // a file holding the password (first line)
	Insecure     bool   `json:"insecure,omitempty"`     // skip certificate verification (GOVC_INSECURE)
	CACerts      string `json:"caCerts,omitempty"`      // PEM file(s) to trust, ':'-separated (GOVC_TLS_CA_CERTS)
	Thumbprint   string `json:"thumbprint,omitempty"`   // SHA-1 or SHA-256 certificate thumbprint to pin
	KnownHosts   string `json:"knownHosts,omitempty"`   // file of "host thumbprint" lines (GOVC_TLS_KNOWN_HOSTS)
}

// ConfigFromEnv returns the settings of the GOVC_* variables read through getenv.
func ConfigFromEnv(getenv func(string) string) Config {
	insecure, _ := strconv.ParseBool(getenv("GOVC_INSECURE"))
	return Config{
		URL:        getenv("GOVC_URL"),
		Username:   getenv("GOVC_USERNAME"),
		Password:   getenv("GOVC_PASSWORD"),
		Insecure:   insecure,
		CACerts:    getenv("GOVC_TLS_CA_CERTS"),
		Thumbprint: getenv("GOVC_THUMBPRINT"),
		KnownHosts: getenv("GOVC_TLS_KNOWN_HOSTS"),
	}
}

// Endpoint parses the URL the way govc does: https is the default scheme and
// /sdk the default path; credentials in the URL are taken out of it and used
// where Username or Password are empty. The password file is read here.
func (c Config) Endpoint() (*url.URL, Config, error) {
	if c.URL == "" {
		return nil, c, fmt.Errorf("vsphere: no endpoint: set --url or GOVC_URL (e.g. https://vcenter.example.com/sdk)")
	}
	raw := c.URL
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // url.Error repeats the whole URL, password included
		}
		return nil, c, fmt.Errorf("vsphere: URL %q: %w", redactURL(c.URL), err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, c, fmt.Errorf("vsphere: URL scheme %q: want https", u.Scheme)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/sdk"
	}
	if u.User != nil {
		if c.Username == "" {
			c.Username = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && c.Password == "" {
			c.Password = p
		}
		u.User = nil
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, c, fmt.Errorf("vsphere: password file: %w", err)
		}
		c.Password = strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	}
	if c.Thumbprint != "" {
		tp := normalizeThumbprint(c.Thumbprint)
		if n := len(strings.ReplaceAll(tp, ":", "")); n != 40 && n != 64 || strings.Trim(strings.ReplaceAll(tp, ":", ""), "0123456789ABCDEF") != "" {
			return nil, c, fmt.Errorf("vsphere: thumbprint %q: want the certificate's SHA-1 (40 hex digits) or SHA-256 (64) fingerprint, colons optional, e.g. from 'openssl x509 -noout -fingerprint -sha256'", c.Thumbprint)
		}
	}
	c.URL = u.String()
	return u, c, nil
}

// MarshalJSON writes the settings with any password in the URL masked.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	p := plain(c)
	p.URL = redactURL(c.URL)
	return json.Marshal(p)
}

// String describes the endpoint without the password.
func (c Config) String() string {
	s := redactURL(c.URL)
	if c.Username != "" {
		s = c.Username + " @ " + s
	}
	return s
}

// redactURL hides a password embedded in a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 {
			return "***@" + s[i+1:]
		}
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
}
