package node

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons the agent writes into pod and container status.
const (
	ReasonCreating      = "ContainerCreating" // pulling and booting
	ReasonNotPodVMImage = "NotPodVMImage"     // the image carries no pod VM spec: nothing to boot
	ReasonUnsupported   = "UnsupportedPod"    // not exactly one container, or init containers
	ReasonPullError     = "ErrImagePull"      // the image could not be read; retried
	ReasonPullBackOff   = "ImagePullBackOff"
	ReasonBootFailed    = "BootFailed" // the runtime could not start the pod VM
	ReasonCrashBackOff  = "CrashLoopBackOff"
	ReasonCompleted     = "Completed" // the guest powered off
)

// pendingStatus is a pod's status from the moment the agent takes it.
func pendingStatus(c *Config, pod *corev1.Pod) corev1.PodStatus {
	now := metav1.Now()
	s := corev1.PodStatus{
		Phase:     corev1.PodPending,
		HostIP:    c.NodeIP,
		HostIPs:   []corev1.HostIP{{IP: c.NodeIP}},
		StartTime: &now,
		QOSClass:  pod.Status.QOSClass,
	}
	if s.QOSClass == "" {
		s.QOSClass = qosClass(pod)
	}
	setConditions(&s, false, "")
	s.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  containerName(pod),
		Image: firstImage(pod),
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCreating}},
	}}
	return s
}

// setConditions writes the kubelet's four pod conditions; why explains
// a pod that is not ready.
func setConditions(s *corev1.PodStatus, ready bool, why string) {
	now := metav1.Now()
	status := func(b bool) corev1.ConditionStatus {
		if b {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	want := []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: status(ready)},
		{Type: corev1.PodReady, Status: status(ready)},
	}
	for i := range want {
		if !ready && (want[i].Type == corev1.PodReady || want[i].Type == corev1.ContainersReady) {
			want[i].Reason, want[i].Message = "ContainersNotReady", why
		}
		want[i].LastTransitionTime = now
		for _, old := range s.Conditions {
			if old.Type == want[i].Type && old.Status == want[i].Status {
				want[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	s.Conditions = want
}

// setContainer sets the one container's state, readiness and restarts.
func setContainer(s *corev1.PodStatus, state corev1.ContainerState, ready bool, restarts int32, vm string) {
	if len(s.ContainerStatuses) == 0 {
		return
	}
	cs := &s.ContainerStatuses[0]
	old := cs.State
	if changed(old, state) && (old.Running != nil || old.Terminated != nil) && state.Terminated == nil {
		cs.LastTerminationState = corev1.ContainerState{Terminated: old.Terminated}
	}
	if state.Terminated != nil && old.Running != nil && state.Terminated.StartedAt.IsZero() {
		state.Terminated.StartedAt = old.Running.StartedAt
	}
	cs.State, cs.Ready, cs.RestartCount = state, ready, restarts
	started := state.Running != nil
	cs.Started = &started
	if state.Running != nil {
		cs.ContainerID = "podvm://" + vm
	}
}

// changed reports whether the container moved to another kind of state.
func changed(a, b corev1.ContainerState) bool {
	return (a.Waiting == nil) != (b.Waiting == nil) || (a.Running == nil) != (b.Running == nil) || (a.Terminated == nil) != (b.Terminated == nil)
}

func running(since time.Time) corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(since)}}
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func terminated(code int32, reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: code, Reason: reason, Message: msg, FinishedAt: metav1.Now()}}
}

func containerName(pod *corev1.Pod) string {
	if len(pod.Spec.Containers) == 0 {
		return ""
	}
	return pod.Spec.Containers[0].Name
}

// qosClass follows the kubelet's rule for the one container.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if len(pod.Spec.Containers) == 0 {
		return corev1.PodQOSBestEffort
	}
	r := pod.Spec.Containers[0].Resources
	if len(r.Requests) == 0 && len(r.Limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		l, ok := r.Limits[n]
		if !ok {
			return corev1.PodQOSBurstable
		}
		if q, ok := r.Requests[n]; ok && q.Cmp(l) != 0 {
			return corev1.PodQOSBurstable
		}
	}
	return corev1.PodQOSGuaranteed
}
