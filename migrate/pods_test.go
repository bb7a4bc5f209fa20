package migrate

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podvm-migrate/podvm-migrate/convert"
	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/node"
	"github.com/podvm-migrate/podvm-migrate/podvm"
	"github.com/podvm-migrate/podvm-migrate/runtime"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
	"github.com/podvm-migrate/podvm-migrate/testenv/registry"
	"github.com/podvm-migrate/podvm-migrate/testenv/testguest"
)

func TestPodsTargetPod(t *testing.T) {
	target := &PodsTarget{Namespace: "apps", PullSecret: "regcred"}
	spec := podvm.Spec{Name: "web01", CPU: podvm.CPU{Sockets: 2, Cores: 2, Threads: 1}, MemoryMiB: 1536}
	p := target.Pod(spec, "registry.example.com/podvms/web01@sha256:abc")
	c := p.Spec.Containers[0]
	for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		if rl.Cpu().Value() != 4 || rl.Memory().Value() != 1536<<20 {
			t.Errorf("resources %v, want 4 CPUs and 1536Mi", rl)
		}
	}
	if p.Namespace != "apps" || p.Name != "web01" || c.Image != "registry.example.com/podvms/web01@sha256:abc" {
		t.Errorf("pod %s/%s image %s", p.Namespace, p.Name, c.Image)
	}
	if len(p.Spec.Tolerations) != 1 || p.Spec.Tolerations[0] != node.Toleration() {
		t.Errorf("tolerations %+v, want the pod VM taint's", p.Spec.Tolerations)
	}
	if p.Spec.NodeSelector[node.LabelPodVM] != "true" {
		t.Errorf("node selector %v, want %s=true", p.Spec.NodeSelector, node.LabelPodVM)
	}
	if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("pull secrets %+v, want regcred", p.Spec.ImagePullSecrets)
	}
}

// playScheduler does what kube-scheduler would for the pods target's
// pods: it binds every unbound pod in ns to node, until ctx ends.
func playScheduler(ctx context.Context, c kubernetes.Interface, ns, nodeName string) {
	for ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				_ = c.CoreV1().Pods(ns).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns},
					Target: corev1.ObjectReference{Kind: "Node", Name: nodeName}}, metav1.CreateOptions{})
			}
		}
	}
}

// TestMigrateToPods migrates two VMs with the pods target onto a real node
// agent (real kube-apiserver, registry and libvirtd): images pushed, a Pod
// per VM Ready on the pod VM node, pod VMs running on the runtime.
func TestMigrateToPods(t *testing.T) {
	if os.Getenv("PODVM_SLOW_TESTS") == "" {
		t.Skip("boots the test guest twice; set PODVM_SLOW_TESTS=1")
	}
	if os.Geteuid() != 0 {
		t.Skip("the node agent starts libvirtd for qemu:///system and needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	dir := testtool.LibvirtDir(t, "podvm-migrate-pods-")
	guest := filepath.Join(dir, "guest")
	if _, err := testguest.Build(ctx, testguest.Options{OutDir: guest}); err != nil {
		t.Fatal(err)
	}
	k := kube.StartForTest(t, kube.Options{NoCRDs: true})
	reg := registry.StartForTest(t)
	client, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	const ns, nodeName = "pods-e2e", "t19-pods"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller manager runs: make the service account admission's default.
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	state := filepath.Join(dir, "state")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	agent, err := node.New(node.Config{NodeName: nodeName, Client: client, StateDir: state, NodeIP: "127.0.0.1",
		ListenAddr: "127.0.0.1:" + strconv.Itoa(port), InsecureRegistries: []string{reg.Addr},
		StatusInterval: 300 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(actx) }()
	t.Cleanup(func() {
		stopAgent()
		<-agentDone
		if rt, err := runtime.New(context.Background(), runtime.WithStateDir(state)); err == nil {
			if pods, err := rt.List(context.Background()); err == nil {
				for _, p := range pods {
					_ = rt.Remove(context.Background(), p.Name, true)
				}
			}
			rt.Close()
		}
	})
	if err := agent.WaitReady(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	go playScheduler(ctx, client, ns, nodeName)

	e := &e2e{dir: dir, guest: guest}
	e.plan = planLocal(t, e, "pods-sparse", "pods-stream")
	noVerify := false
	target := &PodsTarget{Client: client, Namespace: ns, Registry: reg.Addr + "/podvms",
		RegistryOpts: image.RegistryOptions{TLSVerify: &noVerify}, WorkDir: filepath.Join(dir, "tmp"), ReadyTimeout: 5 * time.Minute}
	r, err := NewRunner(e.plan, &DiskPipeline{Open: LocalFiles(dir, convert.PathPolicy{})}, target, Options{RunDir: filepath.Join(dir, "run")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	results, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("%v: %+v", err, results)
	}
	rt, err := runtime.New(ctx, runtime.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	vms, err := rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range results {
		p, err := client.CoreV1().Pods(ns).Get(ctx, res.VM, metav1.GetOptions{})
		if err != nil || !PodReady(p) || p.Spec.NodeName != nodeName || res.Accel != "pods" {
			t.Fatalf("%s: result %+v, pod %v ready on %s: %v", res.VM, res, p != nil && PodReady(p), p.Spec.NodeName, err)
		}
		if img := p.Spec.Containers[0].Image; !strings.HasPrefix(img, reg.Addr+"/podvms/"+res.VM+"@sha256:") {
			t.Errorf("%s runs image %q, want the pushed one by digest", res.VM, img)
		}
		found := false
		for _, vm := range vms {
			found = found || (vm.Name == node.VMName(p) && vm.State == runtime.StateRunning)
		}
		if !found {
			t.Errorf("%s: no running pod VM %s on the runtime (%d listed)", res.VM, node.VMName(p), len(vms))
		}
	}
}
