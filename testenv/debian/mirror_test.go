package debian

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAptMirror(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"one-line", map[string]string{"sources.list": "# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n"}, "http://mirror.example/debian"},
		{"deb822", map[string]string{"sources.list.d/debian.sources": "Types: deb\n# http://snapshot.example/archive\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n"}, "http://deb.example/debian"},
		{"disabled stanza skipped", map[string]string{"sources.list.d/a.sources": "Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n\nTypes: deb deb-src\nURIs: http://on.example/debian\nSuites: bookworm\n"}, "http://on.example/debian"},
		{"other suites only", map[string]string{"sources.list": "deb http://x.example/debian trixie main\n"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(root, "etc/apt", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := AptMirror(root, "bookworm")
			if tc.want == "" {
				if err == nil {
					t.Errorf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("AptMirror = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDebianRecipeKey(t *testing.T) {
	a, b := debianRecipeKey(2048, Net{}), debianRecipeKey(4096, Net{})
	if a == b || a != debianRecipeKey(2048, Net{}) || len(a) != 16 {
		t.Errorf("keys %q %q: want stable, size-dependent, 16 hex digits", a, b)
	}
	if u := uuidFrom(a); len(u) != 36 || u[14] != '4' {
		t.Errorf("uuid %q", u)
	}
}
