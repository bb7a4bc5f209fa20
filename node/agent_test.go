package node

import (
	"context"
	"crypto/tls"
	"net/http"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
)

func nodeReady(n *corev1.Node) (corev1.ConditionStatus, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

// waitNode polls the Node until its Ready condition has want.
func (w *world) waitNode(t *testing.T, name string, want corev1.ConditionStatus) *corev1.Node {
	t.Helper()
	var last *corev1.Node
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := w.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = n
		s, _ := nodeReady(n)
		return s == want, nil
	})
	if err != nil {
		t.Fatalf("node %s never Ready=%s: %v; last: %+v", name, want, err, last)
	}
	return last
}

func TestNodeRegistersReady(t *testing.T) {
	w := getWorld(t)
	w.startAgent(t, "t19-ready", func(c *Config) { c.MaxPods = 7 })
	n := w.waitNode(t, "t19-ready", corev1.ConditionTrue)
	for k, v := range map[string]string{"kubernetes.io/os": "linux", LabelPodVM: "true"} {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
	tainted := false
	for _, tt := range n.Spec.Taints {
		tainted = tainted || (tt.Key == TaintPodVM && tt.Value == "true" && tt.Effect == corev1.TaintEffectNoSchedule)
	}
	if !tainted {
		t.Errorf("taints %+v, want %s=true:NoSchedule among them", n.Spec.Taints, TaintPodVM)
	}
	if got := n.Status.Allocatable.Cpu().Value(); got != int64(goruntime.NumCPU()) {
		t.Errorf("allocatable cpu %d, want the host's %d", got, goruntime.NumCPU())
	}
	if got := n.Status.Capacity.Pods().Value(); got != 7 {
		t.Errorf("pods capacity %d, want 7", got)
	}
	if n.Status.Capacity.Memory().Value() < 1<<30 {
		t.Errorf("memory capacity %s, want the host's", n.Status.Capacity.Memory())
	}
	lease, err := w.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), "t19-ready", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("node lease: %v", err)
	}
	if lease.Spec.RenewTime == nil {
		t.Errorf("lease %s never renewed", lease.Name)
	}
}

func TestNodeNotReadyWhenLibvirtdDown(t *testing.T) {
	w := getWorld(t)
	// A libvirt URI whose socket does not exist: libvirtd does not answer,
	// exactly as when it is stopped (stopping the shared one would break
	// other tests on this host).
	w.startAgent(t, "t19-nolibvirt", func(c *Config) { c.URI = "qemu:///system?socket=/nonexistent/libvirt-sock" })
	n := w.waitNode(t, "t19-nolibvirt", corev1.ConditionFalse)
	if _, reason := nodeReady(n); reason != "LibvirtdDown" {
		t.Errorf("Ready reason %q, want LibvirtdDown", reason)
	}
}

func TestPodWithPlainImageFails(t *testing.T) {
	w := getWorld(t)
	img := w.plainImage(t)
	w.startAgent(t, "t19-plain")
	ns := w.namespace(t, "t19-plain")
	if _, err := w.client.CoreV1().Pods(ns).Create(context.Background(), podVMPod(ns, "web", "t19-plain", img), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := w.waitPod(t, ns, "web", 2*time.Minute, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != ReasonNotPodVMImage || !strings.Contains(p.Status.Message, "not a pod VM image") {
		t.Errorf("status reason %q message %q, want %s saying it is not a pod VM image", p.Status.Reason, p.Status.Message, ReasonNotPodVMImage)
	}
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != ReasonNotPodVMImage {
		t.Errorf("container status %+v, want waiting with %s", cs, ReasonNotPodVMImage)
	}
	// 'kubectl logs' says there is nothing to show yet, through the API server.
	_, err := w.client.CoreV1().Pods(ns).GetLogs("web", &corev1.PodLogOptions{}).Stream(context.Background())
	if err == nil || !strings.Contains(err.Error(), "has not started yet") {
		t.Errorf("logs of a pod without a pod VM: %v, want an error saying it has not started yet", err)
	}
}

func TestPodBootFailureSaysWhy(t *testing.T) {
	w := getWorld(t)
	img := w.guestImage(t)
	w.startAgent(t, "t19-bootfail")
	ns := w.namespace(t, "t19-bootfail")
	pod := podVMPod(ns, "huge", "t19-bootfail", img)
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	// More memory than any test host has: the runtime refuses the boot.
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Ti")}
	if _, err := w.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := w.waitPod(t, ns, "huge", 3*time.Minute, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != ReasonBootFailed || !strings.Contains(p.Status.Message, "not enough memory") {
		t.Errorf("status reason %q message %q, want %s saying not enough memory", p.Status.Reason, p.Status.Message, ReasonBootFailed)
	}
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.Reason != ReasonBootFailed || cs[0].State.Terminated.ExitCode == 0 {
		t.Errorf("container status %+v, want terminated with %s and a non-zero exit code", cs, ReasonBootFailed)
	}
}

// TestKubeletAPIAuthenticates: the agent's kubelet API serves the API
// server (its client certificate) and authorized users only.
func TestKubeletAPIAuthenticates(t *testing.T) {
	w := getWorld(t)
	_, addr := w.startAgent(t, "t19-auth")
	nobody, err := clientcmd.BuildConfigFromFlags("", w.kube.UserKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's certificate is self-signed, as a kubelet's usually is.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, c := range []struct {
		name  string
		token string
		want  int
	}{
		{"no credentials", "", http.StatusUnauthorized},
		{"a user without permissions", nobody.BearerToken, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/containerLogs/default/any/vm", nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %s, want %d", resp.Status, c.want)
			}
		})
	}
}
