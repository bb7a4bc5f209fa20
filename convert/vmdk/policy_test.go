package vmdk

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
)

// FuzzDescriptorNames feeds arbitrary extent names to openNamed, locally
// and on a server: whatever it opens lies in the descriptor's folder (or
// the allowed one), symlinks resolved, and is a regular file.
func FuzzDescriptorNames(f *testing.F) {
	root := f.TempDir()
	vm, allowed, other := filepath.Join(root, "vm"), filepath.Join(root, "allowed"), filepath.Join(root, "other")
	for _, d := range []string{vm, allowed, other, filepath.Join(vm, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(vm, "a.vmdk"), filepath.Join(vm, "sub", "b.vmdk"), filepath.Join(allowed, "c.vmdk"), filepath.Join(other, "secret")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for link, to := range map[string]string{"up": "..", "secret": "../other/secret", "ok": "a.vmdk", "dev": "/dev/null"} {
		if err := os.Symlink(to, filepath.Join(vm, link)); err != nil {
			f.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(vm, "fifo"), 0o644); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"a.vmdk", "sub/b.vmdk", "../other/secret", "up/other/secret", "secret", "ok", "dev", "fifo",
		"/dev/zero", "../allowed/c.vmdk", allowed + "/c.vmdk", "/vmfs/volumes/ds/vm/a.vmdk", `C:\VMs\a.vmdk`, `\\srv\share\a.vmdk`, "sub/../../vm/a.vmdk", "."} {
		f.Add(s)
	}
	desc := filepath.Join(vm, "d.vmdk")
	local := &files{policy: Policy{AllowDirs: []string{allowed}}}
	var served []string
	server := &files{open: func(p string) (*block.File, error) {
		served = append(served, p)
		return nil, os.ErrNotExist
	}}
	f.Fuzz(func(t *testing.T, name string) {
		if file, p, err := local.openNamed(desc, 1, "extent file", name); err == nil {
			file.Close()
			if !within(p, vm, allowed) {
				t.Fatalf("%q opened %s, outside %s and %s", name, p, vm, allowed)
			}
			if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
				t.Fatalf("%q opened %s, not a regular file", name, p)
			}
		}
		served = served[:0]
		server.openNamed("/folder/vm/d.vmdk", 1, "extent file", name)
		for _, p := range served {
			if p != path.Clean(p) || !strings.HasPrefix(p, "/folder/vm/") {
				t.Fatalf("%q asked the server for %q, outside /folder/vm/", name, p)
			}
		}
	})
}

func TestForeignName(t *testing.T) {
	cases := []struct {
		name, want string
		foreign    bool
	}{
		{"disk.vmdk", "disk.vmdk", false},
		{"/vmfs/volumes/ds/vm/disk.vmdk", "/vmfs/volumes/ds/vm/disk.vmdk", false},
		{`C:\VMs\web01\disk.vmdk`, "C:/VMs/web01/disk.vmdk", true},
		{`d:/VMs/disk.vmdk`, "d:/VMs/disk.vmdk", true},
		{`\\nas\vms\disk.vmdk`, "//nas/vms/disk.vmdk", true},
		{`sub\disk.vmdk`, `sub\disk.vmdk`, false},
		{`1:\x`, `1:\x`, false},
	}
	for _, c := range cases {
		got, foreign := foreignName(c.name)
		if got != c.want || foreign != c.foreign {
			t.Errorf("foreignName(%q) = %q, %v; want %q, %v", c.name, got, foreign, c.want, c.foreign)
		}
	}
}
