package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/qemu"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// fixture is what every libvirt test shares: one libvirt connection (the
// first costs seconds), one test guest and one pod VM image of it.
type fixture struct {
	rt       *Runtime
	state    string
	guest    string // folder with guest.raw, vmlinuz, initrd.img
	layout   string // oci:DIR:TAG of the guest image with its kernel
	accel    string // kvm | tcg, from testenv's cached smoke boot
	registry *registry.Server
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
	fixDirs []string
)

// testPrefix starts every pod VM name a test creates, so leftovers are ours.
const testPrefix = "t7-"

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the runtime tests start libvirtd for qemu:///system and need root")
	}
}

func setup(t *testing.T) *fixture {
	t.Helper()
	requireRoot(t)
	fixOnce.Do(func() { fix, fixErr = newFixture() })
	if fixErr != nil {
		t.Fatalf("fixture: %v", fixErr)
	}
	return fix
}

func newFixture() (*fixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		return nil, err
	}
	f := &fixture{}
	var err error
	// libvirt-qemu must reach the files: 0755 folders, not 0700 temp ones.
	if f.guest, err = os.MkdirTemp("", "podvm-runtime-guest-"); err != nil {
		return nil, err
	}
	fixDirs = append(fixDirs, f.guest)
	if f.state, err = os.MkdirTemp("", "podvm-runtime-state-"); err != nil {
		return nil, err
	}
	fixDirs = append(fixDirs, f.state)
	for _, d := range []string{f.guest, f.state} {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: f.guest, CacheDir: testenv.DefaultCacheDir()}); err != nil {
		return nil, err
	}
	kernel, initrd := filepath.Join(f.guest, testguest.Vmlinuz), filepath.Join(f.guest, testguest.Initrd)
	probe, err := qemu.ResolveAccel(ctx, "auto", testenv.DefaultCacheDir(), kernel, initrd)
	if err != nil {
		return nil, err
	}
	f.accel = probe.Accel
	f.layout = "oci:" + filepath.Join(f.guest, "layout") + ":v1"
	spec := podvm.DefaultSpec("guest", 0)
	spec.MemoryMiB = 256
	if _, err := image.Build(ctx, image.BuildOptions{Disks: []string{filepath.Join(f.guest, testguest.Raw)}, Spec: &spec,
		To: f.layout, WorkDir: f.guest, Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0,115200 quiet panic=-1"}); err != nil {
		return nil, err
	}
	if f.rt, err = New(ctx, WithStateDir(f.state)); err != nil {
		return nil, err
	}
	return f, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		if fix.registry != nil {
			fix.registry.Stop()
		}
		// Never leave a test's domain behind, even after a failure.
		if pods, err := fix.rt.List(context.Background()); err == nil {
			for _, p := range pods {
				if strings.HasPrefix(p.Name, testPrefix) {
					_ = fix.rt.Remove(context.Background(), p.Name, true)
				}
			}
		}
		fix.rt.Close()
	}
	for _, d := range fixDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// podName is a unique pod VM name for a test, removed when it ends.
func (f *fixture) podName(t *testing.T, what string) string {
	t.Helper()
	name := fmt.Sprintf("%s%s-%d", testPrefix, what, time.Now().UnixNano()%1e6)
	t.Cleanup(func() {
		if err := f.rt.Remove(context.Background(), name, true); err != nil && !strings.Contains(err.Error(), ErrNotFound.Error()) {
			t.Errorf("cleanup %s: %v", name, err)
		}
	})
	return name
}

// runReady runs a pod VM, waits for it and checks list and logs.
func (f *fixture) runReady(t *testing.T, cfg MachineConfig) *PodVM {
	t.Helper()
	ctx := context.Background()
	cfg.Accel, cfg.WaitReady, cfg.ReadyTimeout = f.accel, true, 3*time.Minute
	p, err := f.rt.Run(ctx, cfg)
	if err != nil {
		if p != nil {
			var b strings.Builder
			_ = f.rt.Logs(ctx, p.Name, &b, false)
			t.Logf("serial log:\n%s", b.String())
		}
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ReadyLine, DefaultReadyLine) || p.Accel != f.accel || p.ReadyAfter <= 0 || p.Uptime < p.ReadyAfter || p.State != StateRunning {
		t.Errorf("pod %+v", p)
	}
	t.Logf("%s ready after %s on %s: %s", p.Name, time.Duration(p.ReadyAfter).Round(time.Millisecond), p.Accel, p.ReadyLine)
	pods, err := f.rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range pods {
		if q.Name == cfg.Name {
			found = true
			if q.State != StateRunning || q.Accel != f.accel || q.Image != p.Image || q.PID == 0 || q.Uptime <= 0 {
				t.Errorf("listed as %+v", q)
			}
		}
		if strings.HasPrefix(q.Domain, DomainPrefix) == false {
			t.Errorf("list shows a foreign domain %s", q.Domain)
		}
	}
	if !found {
		t.Errorf("list lacks %s: %+v", cfg.Name, pods)
	}
	// Another state folder on the same libvirtd does not list it.
	otherDir, err := os.MkdirTemp("", "podvm-runtime-other-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(otherDir)
	if err := os.Chmod(otherDir, 0o755); err != nil { // libvirt-qemu must search it
		t.Fatal(err)
	}
	other, err := New(ctx, WithStateDir(otherDir))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if theirs, err := other.List(ctx); err != nil || slices.ContainsFunc(theirs, func(q PodVM) bool { return q.Name == cfg.Name }) {
		t.Errorf("another state folder lists %s: %+v, %v", cfg.Name, theirs, err)
	}
	var log strings.Builder
	if err := f.rt.Logs(ctx, cfg.Name, &log, false); err != nil || !strings.Contains(log.String(), DefaultReadyLine) {
		t.Errorf("logs (%v) lack the readiness line:\n%s", err, log.String())
	}
	return p
}

// stopAndRemove stops a pod VM, checks it is listed as stopped, removes it
// and checks its folder is gone but the image is not.
func (f *fixture) stopAndRemove(t *testing.T, p *PodVM) {
	t.Helper()
	ctx := context.Background()
	if q, err := f.rt.Get(ctx, p.Name); err == nil && q.State == StateRunning {
		if err := f.rt.Remove(ctx, p.Name, false); err == nil || !strings.Contains(err.Error(), ErrRunning.Error()) {
			t.Errorf("rm of a running pod VM: %v", err)
		}
	}
	if err := f.rt.Stop(ctx, p.Name, 0); err != nil {
		t.Fatal(err)
	}
	q, err := f.rt.Get(ctx, p.Name)
	if err != nil || q.State != StateStopped {
		t.Errorf("after stop: %+v, %v", q, err)
	}
	if err := f.rt.Remove(ctx, p.Name, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after rm", p.Dir)
	}
	if p.ImageDir != "" {
		if _, err := os.Stat(filepath.Join(p.ImageDir, "image.json")); err != nil {
			t.Errorf("rm touched the image: %v", err)
		}
	}
	if _, err := f.rt.Get(ctx, p.Name); err == nil {
		t.Errorf("%s still known after rm", p.Name)
	}
}

func TestRunFromOCILayout(t *testing.T) {
	f := setup(t)
	name := f.podName(t, "oci")
	p := f.runReady(t, MachineConfig{Name: name, Image: f.layout})
	if p.ImageDir == "" || len(p.Overlays) != 1 {
		t.Errorf("pod %+v", p)
	}
	// An uncompressed local image boots in place: the layer blob is
	// linked into the store, read-only, and the overlay sits on a slice of it.
	st, err := os.Stat(filepath.Join(p.ImageDir, "layer"))
	if err != nil || st.Mode().Perm()&0o222 != 0 {
		t.Fatalf("layer should be in the store, read-only: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(p.ImageDir, "disk0.qcow2")); !os.IsNotExist(err) {
		t.Errorf("the disk was copied into the store (%v)", err)
	}
	if x := readFile(t, filepath.Join(p.Dir, "domain.xml")); !strings.Contains(x, `<slice type="storage" offset=`) {
		t.Errorf("domain does not boot from a slice of the layer:\n%s", x)
	}
	// logs -f follows until the pod VM stops.
	done := make(chan error, 1)
	var follow syncBuffer
	go func() { done <- f.rt.Logs(context.Background(), name, &follow, true) }()
	// Stop once logs -f has copied the readiness line, so it is following
	// when the pod VM stops, however long a loaded machine takes to start it.
	for end := time.Now().Add(30 * time.Second); !strings.Contains(follow.String(), DefaultReadyLine); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("logs -f printed no readiness line within 30s: %q", follow.String())
		}
	}
	if err := f.rt.Stop(context.Background(), name, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(follow.String(), DefaultReadyLine) {
			t.Errorf("logs -f: %v, %q", err, follow.String())
		}
	case <-time.After(30 * time.Second):
		t.Error("logs -f did not end when the pod VM stopped")
	}
	f.stopAndRemove(t, p)
}

// TestRunRefusesChangedDisk changes one byte of a disk in an uncompressed
// layout's layer after packaging: the first run must refuse it naming the
// disk, and leave neither a store folder nor a pod VM.
func TestRunRefusesChangedDisk(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ref := "oci:" + filepath.Join(dir, "layout") + ":v1"
	spec := podvm.DefaultSpec("guest", 0)
	spec.MemoryMiB = 256
	spec.Name = "changed"
	built, err := image.Build(ctx, image.BuildOptions{Disks: []string{filepath.Join(f.guest, testguest.Raw)}, Spec: &spec, To: ref, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, layer, err := image.OpenLocalLayer(ctx, ref, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := layer.Disk(built.Disks[0])
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(layer.Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("changed"), e.Offset+e.Size-4096); err != nil {
		t.Fatal(err)
	}
	w.Close()
	name := f.podName(t, "changed")
	_, err = f.rt.Run(ctx, MachineConfig{Name: name, Image: ref, Accel: f.accel})
	if err == nil || !strings.Contains(err.Error(), "disk disk0 (disk/disk0.qcow2)") {
		t.Fatalf("run of a changed image: %v, want a refusal naming disk0", err)
	}
	store := filepath.Join(f.state, "images", strings.TrimPrefix(built.ManifestDigest, "sha256:"))
	for _, p := range []string{store, f.rt.podDir(name)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("a refused run left %s (%v)", p, err)
		}
	}
	if left, _ := filepath.Glob(store + ".partial*"); len(left) > 0 {
		t.Errorf("a refused run left %v", left)
	}
}

// TestConcurrentPullsOfOneImage takes one image into the store from two
// goroutines at once, in place and unpacked (gzip): both get it, and no
// temporary folder is left.
func TestConcurrentPullsOfOneImage(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, comp := range []image.Compression{image.CompressNone, image.CompressGzip} {
		t.Run(string(comp), func(t *testing.T) {
			ref := "oci:" + filepath.Join(dir, "layout-"+string(comp)) + ":v1"
			spec := podvm.DefaultSpec("guest", 0)
			spec.Name = "pulled-" + string(comp)
			built, err := image.Build(ctx, image.BuildOptions{Disks: []string{filepath.Join(f.guest, testguest.Raw)}, Spec: &spec, To: ref, WorkDir: dir, Compress: comp})
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					_, err := f.rt.pull(ctx, ref)
					errs <- err
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Errorf("pull: %v", err)
				}
			}
			store := filepath.Join(f.state, "images", strings.TrimPrefix(built.ManifestDigest, "sha256:"))
			if _, err := os.Stat(filepath.Join(store, "image.json")); err != nil {
				t.Errorf("store folder: %v", err)
			}
			if left, _ := filepath.Glob(store + ".partial*"); len(left) > 0 {
				t.Errorf("pulls left %v", left)
			}
		})
	}
}

// syncBuffer is a strings.Builder safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunFromRegistryFastWithPublish(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if f.registry == nil {
		dir, err := os.MkdirTemp("", "podvm-runtime-registry-")
		if err != nil {
			t.Fatal(err)
		}
		fixDirs = append(fixDirs, dir)
		if f.registry, err = registry.Start(ctx, dir); err != nil {
			t.Fatal(err)
		}
	}
	ref := f.registry.Ref("podvm/guest:v1")
	no := false
	ro := RegistryOptions{TLSVerify: &no}
	spec := podvm.DefaultSpec("guest", 0)
	spec.MemoryMiB = 256
	if _, err := image.Build(ctx, image.BuildOptions{Disks: []string{filepath.Join(f.guest, testguest.Raw)}, Spec: &spec, To: ref, Registry: ro,
		WorkDir: f.guest, Kernel: filepath.Join(f.guest, testguest.Vmlinuz), Initrd: filepath.Join(f.guest, testguest.Initrd), Cmdline: "console=ttyS0,115200 quiet panic=-1"}); err != nil {
		t.Fatal(err)
	}
	rt, err := New(ctx, WithStateDir(f.state), WithRegistry(ro))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	hostPort := freePort(t)
	name := f.podName(t, "reg")
	g := &fixture{rt: rt, accel: f.accel}
	p := g.runReady(t, MachineConfig{Name: name, Image: ref, Fast: true,
		Publish: []PortForward{{Proto: "tcp", HostAddr: "127.0.0.1", HostPort: hostPort, GuestPort: 80}}})
	if !p.Fast {
		t.Error("not booted the fast way")
	}
	if !strings.Contains(readFile(t, filepath.Join(p.Dir, "domain.xml")), fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:80", hostPort)) {
		t.Error("domain lacks the port forward")
	}
	if !listening(hostPort) {
		t.Errorf("nothing listens on the published port %d", hostPort)
	}
	g.stopAndRemove(t, p)
}

func TestRunDiskFileUEFI(t *testing.T) {
	f := setup(t)
	name := f.podName(t, "efi")
	spec := podvm.DefaultSpec("guest", 64<<20)
	spec.MemoryMiB = 256
	spec.Firmware.Type = podvm.FirmwareEFI
	spec.Disks[0].Bus = podvm.BusSATA
	spec.NICs[0].Model, spec.NICs[0].MAC = podvm.NICE1000E, "00:50:56:01:02:03"
	spec.Source.BIOSUUID = "4210c0de-0000-4000-8000-00000000cafe"
	p := f.runReady(t, MachineConfig{Name: name, Image: filepath.Join(f.guest, testguest.Raw), Spec: &spec})
	x := readFile(t, filepath.Join(p.Dir, "domain.xml"))
	for _, want := range []string{"OVMF_CODE", "bus=\"sata\"", "e1000e", "00:50:56:01:02:03", "<uuid>4210c0de-0000-4000-8000-00000000cafe</uuid>"} {
		if !strings.Contains(x, want) {
			t.Errorf("domain XML lacks %s", want)
		}
	}
	// A second copy of the VM cannot have the UUID the first holds: it
	// starts all the same, with one libvirt picks.
	twin := f.podName(t, "efi-twin")
	tspec := podvm.DefaultSpec("guest", 64<<20)
	tspec.MemoryMiB = 256
	tspec.Source.BIOSUUID = spec.Source.BIOSUUID
	tp, err := f.rt.Run(context.Background(), MachineConfig{Name: twin, Image: filepath.Join(f.guest, testguest.Raw), Spec: &tspec, Accel: f.accel})
	if err != nil {
		t.Fatalf("a second pod VM with the first one's SMBIOS UUID: %v", err)
	}
	if tx := readFile(t, filepath.Join(tp.Dir, "domain.xml")); strings.Contains(tx, spec.Source.BIOSUUID) || tp.State != StateRunning {
		t.Errorf("the twin runs %v with the UUID its twin holds", tp.State)
	}
	f.stopAndRemove(t, tp)
	f.stopAndRemove(t, p)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
