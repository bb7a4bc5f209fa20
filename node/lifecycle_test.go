package node

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// podLogs reads the pod's log through the API server, which asks the
// agent's kubelet API: what 'kubectl logs' does.
func (w *world) podLogs(t *testing.T, ns, name string) string {
	t.Helper()
	rc, err := w.client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).Stream(context.Background())
	if err != nil {
		t.Fatalf("logs of pod %s/%s: %v", ns, name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runtimeVM reads a pod VM the way 'podvm-migrate list' does.
func (w *world) runtimeVM(t *testing.T, name string) (*runtime.PodVM, bool) {
	t.Helper()
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.WithStateDir(w.state))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	pods, err := rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Name == name {
			return &p, true
		}
	}
	return nil, false
}

// TestPodVMLifecycle: a pod bound to the node becomes Ready with a pod IP,
// its log shows the guest's readiness line, a restarted agent adopts the
// running pod VM without booting it again, and deleting the pod removes
// the pod VM.
func TestPodVMLifecycle(t *testing.T) {
	if os.Getenv(slowTests) == "" {
		t.Skip("boots the test guest; set " + slowTests + "=1")
	}
	w := getWorld(t)
	img := w.guestImage(t)
	const nodeName = "t19-life"
	stop, _ := w.startAgent(t, nodeName)
	ns := w.namespace(t, "t19-life")
	pod := podVMPod(ns, "guest", nodeName, img)
	created, err := w.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := w.waitPod(t, ns, "guest", 5*time.Minute, podReady)
	if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.Status.HostIP != "127.0.0.1" || p.Status.StartTime == nil {
		t.Errorf("status phase %s podIP %q hostIP %q startTime %v, want Running with both IPs and a start time",
			p.Status.Phase, p.Status.PodIP, p.Status.HostIP, p.Status.StartTime)
	}
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready || cs[0].RestartCount != 0 {
		t.Fatalf("container status %+v, want running, ready, no restarts", cs)
	}
	startedAt := cs[0].State.Running.StartedAt
	if logs := w.podLogs(t, ns, "guest"); !strings.Contains(logs, runtime.DefaultReadyLine) {
		t.Errorf("pod log (%d bytes) lacks %s:\n%s", len(logs), runtime.DefaultReadyLine, logs)
	}
	vmName := VMName(created)
	vm, ok := w.runtimeVM(t, vmName)
	if !ok || vm.State != runtime.StateRunning {
		t.Fatalf("runtime has no running pod VM %s (%+v)", vmName, vm)
	}

	// The agent goes away and comes back: the pod VM keeps running and is
	// adopted, not booted a second time.
	stop()
	w.startAgent(t, nodeName)
	time.Sleep(2 * time.Second) // a few status rounds of the new agent
	p = w.waitPod(t, ns, "guest", time.Minute, podReady)
	cs = p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Running == nil || cs[0].RestartCount != 0 || !cs[0].State.Running.StartedAt.Equal(&startedAt) {
		t.Errorf("after the agent restart: container status %+v, want the same run (started %s, no restarts)", cs, startedAt)
	}
	again, ok := w.runtimeVM(t, vmName)
	if !ok || again.State != runtime.StateRunning || !again.Started.Equal(vm.Started) {
		t.Errorf("after the agent restart: pod VM %+v, want the one started at %s still running", again, vm.Started)
	}
	if n := strings.Count(w.podLogs(t, ns, "guest"), runtime.DefaultReadyLine); n != 1 {
		t.Errorf("the guest printed its readiness line %d times, want 1 (booted once)", n)
	}

	// Deleting the pod stops and removes the pod VM, and the pod goes.
	grace := int64(1)
	if err := w.client.CoreV1().Pods(ns).Delete(context.Background(), "guest", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := w.client.CoreV1().Pods(ns).Get(ctx, "guest", metav1.GetOptions{})
		_, still := w.runtimeVM(t, vmName)
		return err != nil && !still, nil
	})
	if err != nil {
		_, still := w.runtimeVM(t, vmName)
		t.Fatalf("after delete: pod VM still listed: %v (%v)", still, err)
	}
}

// TestRestartPolicy: a guest that powers off completes the pod under
// Never and is booted again under Always, as a kubelet restarts a
// container.
func TestRestartPolicy(t *testing.T) {
	if os.Getenv(slowTests) == "" {
		t.Skip("boots the test guest; set " + slowTests + "=1")
	}
	w := getWorld(t)
	img := w.powerOffImage(t)
	const nodeName = "t19-restart"
	w.startAgent(t, nodeName)
	ns := w.namespace(t, "t19-restart")
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyAlways} {
		pod := podVMPod(ns, strings.ToLower(string(policy)), nodeName, img)
		pod.Spec.RestartPolicy = policy
		if _, err := w.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p := w.waitPod(t, ns, "never", 5*time.Minute, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 || cs[0].State.Terminated.Reason != ReasonCompleted || cs[0].RestartCount != 0 {
		t.Errorf("restartPolicy Never: container status %+v, want terminated %s with exit code 0 and no restarts", cs, ReasonCompleted)
	}
	p = w.waitPod(t, ns, "always", 5*time.Minute, func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 1
	})
	cs = p.Status.ContainerStatuses
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		t.Errorf("restartPolicy Always: phase %s, want the pod kept alive", p.Status.Phase)
	}
	if lt := cs[0].LastTerminationState.Terminated; lt == nil || lt.Reason != ReasonCompleted {
		t.Errorf("restartPolicy Always: last termination %+v, want %s", cs[0].LastTerminationState, ReasonCompleted)
	}
}

// TestPodDeletedWhileAgentDown: a pod deleted while its agent was stopped
// has its pod VM removed when the agent starts again.
func TestPodDeletedWhileAgentDown(t *testing.T) {
	if os.Getenv(slowTests) == "" {
		t.Skip("boots the test guest; set " + slowTests + "=1")
	}
	w := getWorld(t)
	img := w.guestImage(t)
	const nodeName = "t19-gone"
	stop, _ := w.startAgent(t, nodeName)
	ns := w.namespace(t, "t19-gone")
	created, err := w.client.CoreV1().Pods(ns).Create(context.Background(), podVMPod(ns, "guest", nodeName, img), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.waitPod(t, ns, "guest", 5*time.Minute, podReady)
	stop()
	zero := int64(0)
	if err := w.client.CoreV1().Pods(ns).Delete(context.Background(), "guest", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.runtimeVM(t, VMName(created)); !ok {
		t.Fatal("the pod VM went with the agent; it should outlive it")
	}
	w.startAgent(t, nodeName)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(context.Context) (bool, error) {
		_, still := w.runtimeVM(t, VMName(created))
		return !still, nil
	})
	if err != nil {
		t.Fatalf("the pod VM of the deleted pod is still there after the agent restarted: %v", err)
	}
}

// TestSchedulerSpreadsPodsOverTwoAgents: two agents on one host are two
// nodes; kube-scheduler places two pod VM pods, one on each.
func TestSchedulerSpreadsPodsOverTwoAgents(t *testing.T) {
	if os.Getenv(slowTests) == "" {
		t.Skip("boots the test guest twice; set " + slowTests + "=1")
	}
	w := getWorld(t)
	img := w.guestImage(t)
	nodes := []string{"t19-a", "t19-b"}
	for _, n := range nodes {
		w.startAgent(t, n)
	}
	ns := w.namespace(t, "t19-sched")
	for _, name := range []string{"one", "two"} {
		pod := podVMPod(ns, name, "", img)
		// The API server taints new nodes not-ready and no node lifecycle
		// controller runs here to lift it.
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
		// Only this test's nodes: the other tests' nodes stay registered.
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: nodes}}}}}}}
		one := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")}
		pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: one, Limits: one.DeepCopy()}
		if _, err := w.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	placed := map[string]string{}
	for _, name := range []string{"one", "two"} {
		p := w.waitPod(t, ns, name, 5*time.Minute, podReady)
		placed[p.Spec.NodeName] = name
	}
	if len(placed) != 2 {
		t.Errorf("pods placed %v, want one on each of %v", placed, nodes)
	}
}
