package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"

	"github.com/containers/image/v5/pkg/compression"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// sharedGuest is the bootable test guest, built once for the package.
var sharedGuest = testguest.Shared{Prefix: "podvm-image-guest-", Options: testguest.Options{CacheDir: testenv.DefaultCacheDir()}}

// testGuest returns the test guest's folder.
func testGuest(t *testing.T) string {
	t.Helper()
	testtool.Require(t, "skopeo")
	return sharedGuest.Get(t).Dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	sharedGuest.Remove()
	os.Exit(code)
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestImageRoundTripOCILayout(t *testing.T) {
	g := testGuest(t)
	qcow := filepath.Join(t.TempDir(), "guest.qcow2")
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", filepath.Join(g, testguest.Raw), qcow).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	spec := podvm.DefaultSpec("web01", 0)
	spec.Firmware = podvm.Firmware{Type: podvm.FirmwareEFI, SecureBoot: true, SMM: true}
	spec.NICs[0].MAC = "00:50:56:aa:bb:cc"
	cases := []struct {
		name     string
		disk     string
		spec     *podvm.Spec
		want     string // spec name
		boot     bool   // carry the kernel and initramfs
		compress Compression
	}{
		{"qcow2 as is", qcow, &spec, "web01", false, ""},
		{"raw converted with kernel", filepath.Join(g, testguest.Raw), nil, "guest", true, ""},
		{"vmdk converted, gzip", filepath.Join(g, testguest.VMDK), nil, "guest", false, CompressGzip},
		{"stream vmdk converted, zstd", filepath.Join(g, testguest.Stream), nil, "guest-stream", false, CompressZstd},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ref := "oci:" + filepath.Join(dir, "layout") + ":v1"
			o := BuildOptions{Disks: []string{c.disk}, Spec: c.spec, To: ref, WorkDir: dir, Compress: c.compress}
			if c.boot {
				o.Kernel, o.Initrd, o.Cmdline = filepath.Join(g, testguest.Vmlinuz), filepath.Join(g, testguest.Initrd), "console=ttyS0"
			}
			built, err := Build(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if built.Spec.Name != c.want || built.Spec.Disks[0].File != "disk0.qcow2" || built.Spec.Disks[0].CapacityBytes != 64<<20 {
				t.Errorf("built spec %+v", built.Spec)
			}
			if c.disk == qcow && built.Disks[0].SHA256 != fileSHA256(t, qcow) {
				t.Errorf("disk sha256 %s is not the qcow2's", built.Disks[0].SHA256)
			}
			got, err := Inspect(ctx, ref, RegistryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Spec, built.Spec) || !reflect.DeepEqual(got.Disks, built.Disks) || !reflect.DeepEqual(got.Boot, built.Boot) || got.ManifestDigest != built.ManifestDigest {
				t.Errorf("read back %+v\nbuilt %+v", got, built)
			}
			un := filepath.Join(dir, "unpacked")
			if _, err := Unpack(ctx, ref, un, RegistryOptions{}); err != nil {
				t.Fatal(err)
			}
			// A disk Build converted into an uncompressed layout had its
			// layer digest computed as it was written: the layer digest is
			// its check, and Unpack verified the layer.
			converted := c.disk != qcow
			if prehashed := built.Disks[0].SHA256 == ""; prehashed != (converted && c.compress == "") {
				t.Errorf("disk sha256 %q: a converted disk of an uncompressed layout, and only that, is checked by the layer digest", built.Disks[0].SHA256)
			}
			if s := fileSHA256(t, filepath.Join(un, "disk0.qcow2")); built.Disks[0].SHA256 != "" && s != built.Disks[0].SHA256 {
				t.Errorf("unpacked disk sha256 %s, want %s", s, built.Disks[0].SHA256)
			}
			if out, err := exec.Command("qemu-img", "compare", "-q", c.disk, filepath.Join(un, "disk0.qcow2")).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare: %v: %s", err, out)
			}
			wantNames := []string{"disk/", "disk/disk0.qcow2"}
			if c.boot {
				wantNames = append(wantNames, "boot/", "boot/vmlinuz", "boot/initrd.img")
				if built.Boot == nil || built.Boot.Cmdline != "console=ttyS0" || fileSHA256(t, filepath.Join(un, "vmlinuz")) != fileSHA256(t, o.Kernel) {
					t.Errorf("boot files %+v not carried", built.Boot)
				}
			}
			checkLayerLayout(t, filepath.Join(dir, "layout"), built.LayerDigest, wantNames)
			checkSkopeo(t, ref, nil, built)
		})
	}
}

// TestImageLayoutKeepsOtherTags builds two tags into one layout: both
// stay readable, and building a tag again replaces only that tag.
func TestImageLayoutKeepsOtherTags(t *testing.T) {
	g := testGuest(t)
	ctx := context.Background()
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	raw := filepath.Join(g, testguest.Raw)
	built := map[string]*Info{}
	for _, tag := range []string{"a", "b", "a"} {
		spec := podvm.DefaultSpec("vm-"+tag, 0)
		spec.MemoryMiB = 256 + int64(len(built))
		info, err := Build(ctx, BuildOptions{Disks: []string{raw}, Spec: &spec, To: "oci:" + layout + ":" + tag, WorkDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		built[tag] = info
	}
	for tag, want := range built {
		ref := "oci:" + layout + ":" + tag
		got, err := Inspect(ctx, ref, RegistryOptions{})
		if err != nil || got.ManifestDigest != want.ManifestDigest {
			t.Errorf("%s: %v, manifest %+v, want %s", tag, err, got, want.ManifestDigest)
		}
		checkSkopeo(t, ref, nil, want)
	}
	var index imgspecv1.Index
	if err := json.Unmarshal([]byte(readText(t, filepath.Join(layout, "index.json"))), &index); err != nil || len(index.Manifests) != 2 {
		t.Errorf("index.json: %v, %+v", err, index)
	}
	blobs, _ := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	for _, b := range blobs {
		if strings.HasSuffix(b.Name(), ".partial") || strings.HasPrefix(b.Name(), ".") {
			t.Errorf("blobs/sha256 holds %s", b.Name())
		}
	}
}

func readText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkLayerLayout opens the layer blob and checks the containerDisk layout.
func checkLayerLayout(t *testing.T, layout, layerDigest string, want []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(layerDigest, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := compression.AutoDecompress(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 107 || h.Gid != 107 || (h.Typeflag == tar.TypeReg && h.Mode != 0o440) {
			t.Errorf("%s: uid %d gid %d mode %o", h.Name, h.Uid, h.Gid, h.Mode)
		}
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("layer holds %v", names)
	}
}

// checkSkopeo runs skopeo inspect and compares its labels with what was built.
func checkSkopeo(t *testing.T, ref string, extra []string, built *Info) {
	t.Helper()
	args := append([]string{"inspect"}, extra...)
	out, err := exec.Command("skopeo", append(args, ref)...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v: %s", ref, err, out)
	}
	var si struct {
		Labels map[string]string
		Layers []string
	}
	if err := json.Unmarshal(out, &si); err != nil {
		t.Fatalf("skopeo output: %v: %s", err, out)
	}
	var spec podvm.Spec
	if err := json.Unmarshal([]byte(si.Labels[AnnotationSpec]), &spec); err != nil || !reflect.DeepEqual(spec, built.Spec) {
		t.Errorf("skopeo shows spec %+v (%v), want %+v", spec, err, built.Spec)
	}
	if len(si.Layers) != 1 || si.Layers[0] != built.LayerDigest {
		t.Errorf("skopeo shows layers %v, want %s", si.Layers, built.LayerDigest)
	}
}

// TestImageRegistry pushes an image with each compression through the
// local registry, reads it back with Inspect, Unpack and skopeo.
func TestImageRegistry(t *testing.T) {
	g := testGuest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	reg, err := registry.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	insecure := false
	ro := RegistryOptions{TLSVerify: &insecure}
	cases := []struct {
		compress  Compression
		mediaType string
	}{
		{"", imgspecv1.MediaTypeImageLayerGzip}, // a registry's default
		{CompressNone, imgspecv1.MediaTypeImageLayer},
		{CompressGzip, imgspecv1.MediaTypeImageLayerGzip},
		{CompressZstd, imgspecv1.MediaTypeImageLayerZstd},
	}
	for _, c := range cases {
		t.Run("compress="+string(c.compress), func(t *testing.T) {
			ref := reg.Ref("podvm/guest:v1" + string(c.compress))
			built, err := Build(ctx, BuildOptions{Disks: []string{filepath.Join(g, testguest.Raw)}, To: ref, Registry: ro, Compress: c.compress, WorkDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if built.LayerMediaType != c.mediaType {
				t.Errorf("layer media type %s, want %s", built.LayerMediaType, c.mediaType)
			}
			got, err := Inspect(ctx, ref, ro)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Spec, built.Spec) || !reflect.DeepEqual(got.Disks, built.Disks) ||
				got.ManifestDigest != built.ManifestDigest || got.LayerMediaType != c.mediaType {
				t.Errorf("read back %+v, built %+v", got, built)
			}
			un := filepath.Join(t.TempDir(), "unpacked")
			if _, err := Unpack(ctx, ref, un, ro); err != nil {
				t.Fatal(err)
			}
			if s := fileSHA256(t, filepath.Join(un, "disk0.qcow2")); s != built.Disks[0].SHA256 {
				t.Errorf("pulled disk sha256 %s, want %s", s, built.Disks[0].SHA256)
			}
			checkSkopeo(t, ref, []string{"--tls-verify=false"}, built)
		})
	}
	// TLS is verified unless asked otherwise: a plain-HTTP registry fails.
	if _, err := Inspect(ctx, reg.Ref("podvm/guest:v1gzip"), RegistryOptions{}); err == nil {
		t.Error("inspect over verified TLS of a plain-HTTP registry worked")
	}
}

func TestImageErrors(t *testing.T) {
	g := testGuest(t)
	raw := filepath.Join(g, testguest.Raw)
	dir := t.TempDir()
	bad := podvm.DefaultSpec("Bad_Name", 0)
	two := podvm.DefaultSpec("two", 0)
	two.Disks = append(two.Disks, podvm.Disk{Name: "disk1", Bus: podvm.BusVirtio})
	cases := []struct {
		name string
		o    BuildOptions
		want string
	}{
		{"no disks", BuildOptions{To: "oci:" + dir + ":x"}, "no disks"},
		{"bad reference", BuildOptions{Disks: []string{raw}, To: "nowhere"}, "image reference"},
		{"missing disk", BuildOptions{Disks: []string{filepath.Join(dir, "nope.raw")}, To: "oci:" + dir + ":x"}, "nope.raw"},
		{"invalid spec", BuildOptions{Disks: []string{raw}, Spec: &bad, To: "oci:" + dir + ":x"}, "name"},
		{"disk count", BuildOptions{Disks: []string{raw}, Spec: &two, To: "oci:" + dir + ":x"}, "lists 2 disks"},
		{"initrd without kernel", BuildOptions{Disks: []string{raw}, Initrd: raw, To: "oci:" + dir + ":x"}, "needs a kernel"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.WorkDir = dir
			_, err := Build(context.Background(), c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if _, err := Inspect(context.Background(), "oci:"+filepath.Join(dir, "absent")+":v1", RegistryOptions{}); err == nil {
		t.Error("inspect of a missing layout worked")
	}
}
