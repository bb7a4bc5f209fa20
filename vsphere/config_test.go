package vsphere

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEndpoint(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("from-file\nignored\n"), 0o600)
	cases := []struct {
		name              string
		in                Config
		url, user, passwd string
	}{
		{"host only", Config{URL: "vc.example"}, "https://vc.example/sdk", "", ""},
		{"creds in url", Config{URL: "https://admin:s3cret@vc.example"}, "https://vc.example/sdk", "admin", "s3cret"},
		{"env wins over url", Config{URL: "https://admin:s3cret@vc.example/sdk", Username: "ops", Password: "envpw"}, "https://vc.example/sdk", "ops", "envpw"},
		{"password file", Config{URL: "127.0.0.1:8989", Username: "u", Password: "x", PasswordFile: pwFile}, "https://127.0.0.1:8989/sdk", "u", "from-file"},
		{"custom path kept", Config{URL: "http://127.0.0.1:1/api"}, "http://127.0.0.1:1/api", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, got, err := c.in.Endpoint()
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != c.url || got.Username != c.user || got.Password != c.passwd {
				t.Errorf("got %s %q %q; want %s %q %q", u, got.Username, got.Password, c.url, c.user, c.passwd)
			}
		})
	}
}

func TestEndpointErrors(t *testing.T) {
	cases := map[string]Config{
		"GOVC_URL":      {},
		"want https":    {URL: "ftp://vc"},
		"password file": {URL: "vc", PasswordFile: "/nonexistent/pw"},
	}
	for want, c := range cases {
		if _, _, err := c.Endpoint(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want %q", c, err, want)
		}
	}
}

func TestPasswordNeverShown(t *testing.T) {
	c := ConfigFromEnv(func(k string) string {
		return map[string]string{"GOVC_URL": "https://root:topsecret@esx.local/sdk", "GOVC_PASSWORD": "topsecret2", "GOVC_INSECURE": "1"}[k]
	})
	if !c.Insecure {
		t.Error("GOVC_INSECURE=1 not read")
	}
	j, _ := json.Marshal(c)
	for _, s := range []string{c.String(), string(j)} {
		if strings.Contains(s, "topsecret") {
			t.Errorf("password leaked: %s", s)
		}
	}
	if _, _, err := (Config{URL: "https://u:topsecret@%zz"}).Endpoint(); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("bad URL error leaks or is missing: %v", err)
	}
}
