package convert

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
	"github.com/podvm-migrate/podvm-migrate/disksource"
)

// confineSectors is the size of every extent of the confinement tests.
const confineSectors = 2048

// confineTree writes a VM folder and, next to it, a folder of files a
// descriptor in the VM folder must not reach on its own:
//
//	root/vm/flat.vmdk             1 MiB of 'v'
//	root/vm/base.vmdk             a descriptor of flat.vmdk
//	root/vm/inside-link.vmdk      -> flat.vmdk
//	root/vm/escape-link.vmdk      -> ../outside/secret.raw
//	root/vm/fifo.vmdk             a FIFO
//	root/outside/secret.raw       1 MiB of 's'
//	root/outside/base.vmdk        a descriptor of secret.raw
func confineTree(t *testing.T) (root string) {
	t.Helper()
	root = t.TempDir()
	vm, out := filepath.Join(root, "vm"), filepath.Join(root, "outside")
	for _, d := range []string{vm, out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{
		filepath.Join(vm, "flat.vmdk"):       bytes.Repeat([]byte{'v'}, confineSectors*512),
		filepath.Join(vm, "base.vmdk"):       []byte(descriptor("monolithicFlat", "", fmt.Sprintf(`RW %d FLAT "flat.vmdk" 0`, confineSectors))),
		filepath.Join(out, "secret.raw"):     bytes.Repeat([]byte{'s'}, confineSectors*512),
		filepath.Join(out, "base.vmdk"):      []byte(descriptor("monolithicFlat", "", fmt.Sprintf(`RW %d FLAT "secret.raw" 0`, confineSectors))),
		filepath.Join(root, "unrelated.txt"): []byte("not a disk"),
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("flat.vmdk", filepath.Join(vm, "inside-link.vmdk")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside/secret.raw", filepath.Join(vm, "escape-link.vmdk")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(vm, "fifo.vmdk"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// flatDesc is a descriptor of one FLAT extent named name, with parent
// hint parent ("" for none): the extent line is line 9 without a parent,
// 10 with one (whose hint is line 6).
func flatDesc(name, parent string) string {
	return descriptor("monolithicFlat", parent, fmt.Sprintf(`RW %d FLAT "%s" 0`, confineSectors, name))
}

// TestDescriptorNamesAreConfined converts descriptors whose extents and
// parents reach outside their folder: each is refused with the descriptor,
// line and path named and no target left, unless the name stays inside or
// a PathPolicy allows it.
func TestDescriptorNamesAreConfined(t *testing.T) {
	root := confineTree(t)
	vm, out := filepath.Join(root, "vm"), filepath.Join(root, "outside")
	cases := []struct {
		name  string
		desc  string // written to vm/test.vmdk
		allow []string
		want  byte     // the guest's bytes when it converts
		err   []string // in the error when it is refused
	}{
		{name: "extent in the folder", desc: flatDesc("flat.vmdk", ""), want: 'v'},
		{name: "extent ../", desc: flatDesc("../outside/secret.raw", ""),
			err: []string{"test.vmdk: line 9: extent file", `"../outside/secret.raw"`, out, "outside the descriptor's folder", "--allow-path DIR"}},
		{name: "extent absolute outside", desc: flatDesc(filepath.Join(out, "secret.raw"), ""),
			err: []string{"line 9", filepath.Join(out, "secret.raw"), "outside the descriptor's folder"}},
		{name: "extent absolute in the folder", desc: flatDesc(filepath.Join(vm, "flat.vmdk"), ""), want: 'v'},
		{name: "extent ../ back into the folder", desc: flatDesc("../vm/flat.vmdk", ""), want: 'v'},
		{name: "symlink inside", desc: flatDesc("inside-link.vmdk", ""), want: 'v'},
		{name: "symlink escaping", desc: flatDesc("escape-link.vmdk", ""),
			err: []string{"line 9", "escape-link.vmdk", "a symlink to " + filepath.Join(out, "secret.raw"), "--allow-path"}},
		{name: "/dev/zero", desc: flatDesc("/dev/zero", ""), err: []string{"line 9", `"/dev/zero"`, "outside the descriptor's folder"}},
		{name: "/dev/zero allowed is still a device", desc: flatDesc("/dev/zero", ""), allow: []string{"/dev"},
			err: []string{"line 9", `"/dev/zero"`, "a character device", "never device nodes"}},
		{name: "FIFO in the folder", desc: flatDesc("fifo.vmdk", ""), err: []string{"line 9", "fifo.vmdk", "a FIFO"}},
		{name: "directory", desc: flatDesc(".", ""), err: []string{"line 9", "a directory"}},
		{name: "parent hint ../", desc: flatDesc("flat.vmdk", "../outside/base.vmdk"),
			err: []string{"test.vmdk: line 6: parentFileNameHint", `"../outside/base.vmdk"`, "outside the descriptor's folder"}},
		{name: "parent hint ESXi path, file in the folder", desc: flatDesc("flat.vmdk", "/vmfs/volumes/datastore1/web01/base.vmdk"), want: 'v'},
		{name: "parent hint ESXi path, file nowhere", desc: flatDesc("flat.vmdk", "/vmfs/volumes/datastore1/web01/gone.vmdk"),
			err: []string{"line 6", "/vmfs/volumes/datastore1/web01/gone.vmdk", "outside the descriptor's folder, and no gone.vmdk is next to the descriptor"}},
		{name: "parent hint Windows path, file in the folder", desc: flatDesc("flat.vmdk", `C:\VMs\web01\base.vmdk`), want: 'v'},
		{name: "parent hint absolute outside", desc: flatDesc("flat.vmdk", filepath.Join(out, "base.vmdk")),
			want: 'v', allow: []string{out}},
		{name: "extent ../ allowed", desc: flatDesc("../outside/secret.raw", ""), allow: []string{out}, want: 's'},
		{name: "extent absolute allowed", desc: flatDesc(filepath.Join(out, "secret.raw"), ""), allow: []string{out}, want: 's'},
		{name: "symlink escaping allowed", desc: flatDesc("escape-link.vmdk", ""), allow: []string{out}, want: 's'},
		{name: "allowed elsewhere is not here", desc: flatDesc("../outside/secret.raw", ""), allow: []string{filepath.Join(root, "other")},
			err: []string{"outside the descriptor's folder"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(vm, "test.vmdk")
			if err := os.WriteFile(src, []byte(c.desc), 0o644); err != nil {
				t.Fatal(err)
			}
			checkConfined(t, disksource.File(src), PathPolicy{AllowDirs: c.allow}, c.want, c.err)
		})
	}
}

// checkConfined converts src to raw: with want set it must hold want in
// every byte, else it must fail with every string of errs in the error, a
// *vmdk.RefusedError, and leave no target.
func checkConfined(t *testing.T, src disksource.Source, p PathPolicy, want byte, errs []string) {
	t.Helper()
	out := t.TempDir()
	dst := filepath.Join(out, "out.raw")
	_, err := Disk(context.Background(), src, dst, DiskOptions{Format: FormatRaw, Workers: 1, Paths: p})
	if errs == nil {
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, bytes.Repeat([]byte{want}, confineSectors*512)) {
			t.Fatalf("converted disk does not hold %q", want)
		}
		return
	}
	if err == nil {
		t.Fatal("converted a descriptor that names a file it may not")
	}
	t.Log(err)
	var refused *vmdk.RefusedError
	if !errors.As(err, &refused) {
		t.Errorf("error %v is not a *vmdk.RefusedError", err)
	}
	for _, w := range errs {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q", w)
		}
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Errorf("refused conversion left %v", left)
	}
}

// TestOVADescriptorNamesAreConfined reads OVAs whose VMDK is a descriptor:
// its extents are the OVA's other members, and a name outside the OVA is
// refused unless a PathPolicy allows that host folder.
func TestOVADescriptorNamesAreConfined(t *testing.T) {
	root := confineTree(t)
	out := filepath.Join(root, "outside")
	secret := filepath.Join(out, "secret.raw")
	flat := bytes.Repeat([]byte{'o'}, confineSectors*512)
	cases := []struct {
		name    string
		extent  string
		members []string // besides the OVF and the descriptor: files holding flat
		allow   []string
		want    byte
		err     []string
	}{
		{name: "member", extent: "disk-flat.vmdk", members: []string{"disk-flat.vmdk"}, want: 'o'},
		{name: "ESXi path to a member", extent: "/vmfs/volumes/ds1/vm/disk-flat.vmdk", members: []string{"disk-flat.vmdk"}, want: 'o'},
		{name: "host file", extent: secret, err: []string{"disk.vmdk: line 9: extent file", secret, "outside the OVA", "--allow-path"}},
		{name: "../ out of the OVA", extent: "../outside/secret.raw", err: []string{"line 9", "outside the OVA"}},
		{name: "/etc/passwd", extent: "/etc/passwd", err: []string{"line 9", "/etc/passwd", "outside the OVA"}},
		{name: "/dev/zero allowed is still a device", extent: "/dev/zero", allow: []string{"/dev"}, err: []string{"a character device"}},
		{name: "host file allowed", extent: secret, allow: []string{out}, want: 's'},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ova := filepath.Join(t.TempDir(), "vm.ova")
			members := map[string][]byte{"vm.ovf": []byte("<Envelope/>"), "disk.vmdk": []byte(flatDesc(c.extent, ""))}
			names := []string{"vm.ovf", "disk.vmdk"}
			for _, m := range c.members {
				members[m] = flat
				names = append(names, m)
			}
			writeTar(t, ova, names, members)
			checkConfined(t, disksource.File(ova), PathPolicy{AllowDirs: c.allow}, c.want, c.err)
		})
	}
}

// writeTar writes the named members to a tar file at p, in order.
func writeTar(t *testing.T, p string, names []string, members map[string][]byte) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(members[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(members[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRemoteDescriptorNamesAreConfined reads descriptors over HTTP: their
// extents and parents must stay next to them on the same server.
func TestRemoteDescriptorNamesAreConfined(t *testing.T) {
	root := confineTree(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	cases := []struct {
		name string
		desc string
		want byte
		err  []string
	}{
		{name: "next to it", desc: flatDesc("flat.vmdk", ""), want: 'v'},
		{name: "../", desc: flatDesc("../outside/secret.raw", ""), err: []string{"line 9", "/outside/secret.raw", "outside the descriptor's folder on its server"}},
		{name: "absolute path elsewhere on the server", desc: flatDesc("/outside/secret.raw", ""), err: []string{"line 9", "on its server"}},
		{name: "parent hint ESXi path next to it", desc: flatDesc("flat.vmdk", "/vmfs/volumes/ds1/web01/base.vmdk"), want: 'v'},
		{name: "parent hint ../", desc: flatDesc("flat.vmdk", "../outside/base.vmdk"), err: []string{"line 6: parentFileNameHint", "on its server"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(root, "vm", "test.vmdk"), []byte(c.desc), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := disksource.Parse(srv.URL + "/vm/test.vmdk")
			if err != nil {
				t.Fatal(err)
			}
			checkConfined(t, src, PathPolicy{}, c.want, c.err)
		})
	}
}
