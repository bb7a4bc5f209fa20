package node

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

// slowTests gates the tests that boot the test guest.
const slowTests = "PODVM_SLOW_TESTS"

// world is what the agent tests share: a real kube-apiserver with etcd, a
// real registry holding the test guest as a pod VM image, libvirtd and a
// runtime state folder. Built once per test binary.
type world struct {
	kube   *kube.Server
	client kubernetes.Interface
	reg    *registry.Server
	state  string
	guest  string // HOST:PORT/REPO:TAG of the test guest's pod VM image
	offImg string // the same guest powering off after its readiness line
	dirs   []string
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld != nil {
		theWorld.close()
	}
	os.Exit(code)
}

func getWorld(t *testing.T) *world {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the node agent tests start libvirtd for qemu:///system and need root")
	}
	worldOnce.Do(func() { theWorld, worldErr = newWorld() })
	if worldErr != nil {
		t.Fatalf("test world: %v", worldErr)
	}
	return theWorld
}

func newWorld() (w *world, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	w = &world{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		return nil, err
	}
	if w.kube, err = kube.Start(ctx, kube.Options{NoCRDs: true, Scheduler: true}); err != nil {
		return nil, err
	}
	if w.client, err = kubernetes.NewForConfig(w.kube.RESTConfig()); err != nil {
		return nil, err
	}
	// libvirt-qemu must reach the files: 0755 folders, not 0700 temp ones.
	for _, p := range []*string{&w.state} {
		if *p, err = os.MkdirTemp("", "podvm-node-state-"); err != nil {
			return nil, err
		}
		w.dirs = append(w.dirs, *p)
		if err := os.Chmod(*p, 0o755); err != nil {
			return nil, err
		}
	}
	regDir, err := os.MkdirTemp("", "podvm-node-registry-")
	if err != nil {
		return nil, err
	}
	w.dirs = append(w.dirs, regDir)
	if w.reg, err = registry.Start(ctx, regDir); err != nil {
		return nil, err
	}
	return w, nil
}

// guestImage builds the test guest, pushes it as a pod VM image and
// returns its name as a pod gives it, once per test binary.
func (w *world) guestImage(t *testing.T) string {
	t.Helper()
	if w.guest == "" {
		w.guest = w.pushGuest(t, "podvm/guest:v1", false)
	}
	return w.guest
}

// powerOffImage is the test guest that powers off once it is ready.
func (w *world) powerOffImage(t *testing.T) string {
	t.Helper()
	if w.offImg == "" {
		w.offImg = w.pushGuest(t, "podvm/guest-off:v1", true)
	}
	return w.offImg
}

func (w *world) pushGuest(t *testing.T, repoTag string, powerOff bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "podvm-node-guest-")
	if err != nil {
		t.Fatal(err)
	}
	w.dirs = append(w.dirs, dir)
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: dir, CacheDir: testenv.DefaultCacheDir(), PowerOff: powerOff}); err != nil {
		t.Fatalf("build the test guest: %v", err)
	}
	spec := podvm.DefaultSpec("guest", 0)
	spec.MemoryMiB = 256
	no := false
	if _, err := image.Build(ctx, image.BuildOptions{Disks: []string{filepath.Join(dir, testguest.Raw)}, Spec: &spec,
		To: w.reg.Ref(repoTag), Registry: image.RegistryOptions{TLSVerify: &no}, WorkDir: dir}); err != nil {
		t.Fatalf("push the test guest: %v", err)
	}
	return w.reg.Addr + "/" + repoTag
}

// plainImage pushes an OCI image with one empty layer and no pod VM spec
// straight through the registry's HTTP API and returns its name.
func (w *world) plainImage(t *testing.T) string {
	t.Helper()
	repo := "plain/app"
	put := func(b []byte) string {
		d := "sha256:" + hex.EncodeToString(sha256Sum(b))
		resp, err := http.Post("http://"+w.reg.Addr+"/v2/"+repo+"/blobs/uploads/", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("start blob upload: %s: %v", resp.Status, err)
		}
		q := loc.Query()
		q.Set("digest", d)
		loc.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("push blob: %s", resp.Status)
		}
		return d
	}
	layer := emptyTarGz()
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:` + hex.EncodeToString(sha256Sum(make([]byte, 1024))) + `"]}}`)
	cd, ld := put(cfg), put(layer)
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		cd, len(cfg), ld, len(layer))
	req, _ := http.NewRequest(http.MethodPut, "http://"+w.reg.Addr+"/v2/"+repo+"/manifests/v1", strings.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push manifest: %s", resp.Status)
	}
	return w.reg.Addr + "/" + repo + ":v1"
}

func (w *world) close() {
	// Never leave a test's pod VM behind, even after a failure.
	if w.state != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if rt, err := runtime.New(ctx, runtime.WithStateDir(w.state)); err == nil {
			if pods, err := rt.List(ctx); err == nil {
				for _, p := range pods {
					_ = rt.Remove(ctx, p.Name, true)
				}
			}
			rt.Close()
		}
		cancel()
	}
	if w.reg != nil {
		w.reg.Stop()
	}
	if w.kube != nil {
		w.kube.Stop()
	}
	for _, d := range w.dirs {
		os.RemoveAll(d)
	}
}

// agentOpts change a test agent's config.
type agentOpt func(*Config)

// startAgent runs an agent for node name until the returned stop is
// called (or the test ends) and waits until its controllers run. The
// kubelet API is on the returned address, authenticating the API server
// by its kubelet client certificate.
func (w *world) startAgent(t *testing.T, name string, opts ...agentOpt) (stop func(), addr string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logw := &testLog{t: t}
	cfg := Config{NodeName: name, Client: w.client, StateDir: w.state, NodeIP: "127.0.0.1",
		ListenAddr: "127.0.0.1:" + strconv.Itoa(port), InsecureRegistries: []string{w.reg.Addr},
		ClientCAFile:   w.kube.KubeletClientCA,
		StatusInterval: 300 * time.Millisecond, Log: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
			logw.stop()
		})
	}
	t.Cleanup(stop)
	if err := a.WaitReady(ctx, 2*time.Minute); err != nil {
		t.Fatalf("agent %s not ready: %v", name, err)
	}
	return stop, cfg.ListenAddr
}

// testLog sends the agent's log to the test until the agent stops.
type testLog struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

// namespace creates a namespace for one test.
func (w *world) namespace(t *testing.T, name string) string {
	t.Helper()
	_, err := w.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No controller manager runs: the service account admission wants the
	// namespace's default service account, so the test makes it.
	if _, err := w.client.CoreV1().ServiceAccounts(name).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// podVMPod is a pod bound to node (no scheduler runs) running img.
func podVMPod(ns, name, node, img string) *corev1.Pod {
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			AutomountServiceAccountToken: &no,
			Tolerations:                  []corev1.Toleration{Toleration()},
			NodeSelector:                 NodeSelector(),
			Containers:                   []corev1.Container{{Name: "vm", Image: img}},
		},
	}
}

// waitPod polls the pod until ok says yes, failing after timeout with the
// last status seen.
func (w *world) waitPod(t *testing.T, ns, name string, timeout time.Duration, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		p, err := w.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return ok(p), nil
	})
	if err != nil {
		var st any
		if last != nil {
			st = last.Status
		}
		t.Fatalf("pod %s/%s: %v; last status: %+v", ns, name, err, st)
	}
	return last
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// emptyTarGz is a gzipped tar archive with no entries (two zero blocks).
func emptyTarGz() []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(make([]byte, 1024))
	zw.Close()
	return buf.Bytes()
}
