package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindOVMF(t *testing.T) {
	debian := t.TempDir()
	rhel := t.TempDir()
	for dir, names := range map[string][]string{
		debian: {"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd", "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"},
		rhel:   {"OVMF_CODE.fd", "OVMF_VARS.fd", "OVMF_CODE.secboot.fd", "OVMF_VARS.secboot.fd"},
	} {
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	listed := func(dir string, secure bool, names ...string) *hostCaps {
		c := &hostCaps{SecureLoader: secure}
		for _, n := range names {
			c.Loaders = append(c.Loaders, filepath.Join(dir, n))
		}
		return c
	}
	cases := []struct {
		name       string
		dir        string
		caps       *hostCaps
		secure     bool
		code, vars string // base names; empty: ErrUnsatisfiable
	}{
		{"debian, as libvirt lists it", "", listed(debian, true, "OVMF_CODE_4M.secboot.fd", "OVMF_CODE_4M.fd"), false, "OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"},
		{"debian secure boot", "", listed(debian, true, "OVMF_CODE_4M.secboot.fd", "OVMF_CODE_4M.fd"), true, "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"},
		{"rhel secure boot", "", listed(rhel, true, "OVMF_CODE.secboot.fd", "OVMF_CODE.fd"), true, "OVMF_CODE.secboot.fd", "OVMF_VARS.secboot.fd"},
		{"libvirt lists no secure loader", "", listed(debian, false, "OVMF_CODE_4M.fd"), true, "", ""},
		{"libvirt lists none", "", &hostCaps{}, false, "", ""},
		{"a file libvirt does not list is not taken", "", listed(debian, true, "OVMF_CODE_4M.fd"), true, "", ""},
		{"a folder given", debian, nil, true, "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"},
		{"an empty folder given", t.TempDir(), listed(debian, true, "OVMF_CODE_4M.fd"), false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := findOVMF(c.dir, c.caps, c.secure)
			if c.code == "" {
				if !errors.Is(err, ErrUnsatisfiable) || !strings.Contains(err.Error(), "install ovmf") {
					t.Fatalf("got %+v, %v; want ErrUnsatisfiable saying install ovmf", o, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(o.Code) != c.code || filepath.Base(o.Vars) != c.vars || filepath.Dir(o.Code) != filepath.Dir(o.Vars) || o.Secure != c.secure {
				t.Errorf("got %+v, want %s with %s", o, c.code, c.vars)
			}
		})
	}
}
