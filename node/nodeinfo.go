package node

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvm-migrate/podvm-migrate/internal/host"
	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// Toleration lets a pod onto pod VM nodes despite their taint.
func Toleration() corev1.Toleration {
	return corev1.Toleration{Key: TaintPodVM, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule}
}

// NodeSelector places a pod on pod VM nodes only.
func NodeSelector() map[string]string {
	return map[string]string{LabelPodVM: "true", corev1.LabelOSStable: "linux"}
}

// nodeObject is the Node the agent registers: the host's CPUs and memory
// and a pod limit as capacity and allocatable, the pod VM label and taint,
// the kubelet API endpoint and the address the API server reaches it at.
func nodeObject(c *Config, port int32) (*corev1.Node, error) {
	memKiB, err := memTotalKiB()
	if err != nil {
		return nil, fmt.Errorf("node %s: host memory: %w", c.NodeName, err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memKiB*1024, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(c.MaxPods), resource.DecimalSI),
	}
	now := metav1.Now()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: c.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname:   c.NodeName,
				corev1.LabelOSStable:   "linux",
				corev1.LabelArchStable: goruntime.GOARCH,
				LabelPodVM:             "true",
				"type":                 "virtual-kubelet",
			},
		},
		Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: TaintPodVM, Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Phase:       corev1.NodeRunning,
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: c.NodeIP},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: port}},
			NodeInfo: corev1.NodeSystemInfo{
				OperatingSystem:         "linux",
				Architecture:            goruntime.GOARCH,
				KubeletVersion:          "podvm-migrate",
				ContainerRuntimeVersion: "podvm-migrate://libvirt",
				KernelVersion:           host.KernelRelease(),
			},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "Starting", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "UserModeNetworking", LastHeartbeatTime: now, LastTransitionTime: now},
			},
		},
	}
	return n, nil
}

// health is the agent's node.NodeProvider: the lease is the heartbeat,
// and the Ready condition follows libvirtd, checked every interval.
type health struct {
	cfg      *Config
	node     *corev1.Node // the template nodeutil registers; guarded by mu after start
	interval time.Duration

	mu    sync.Mutex
	ready *bool
}

// Ping is the lease heartbeat: the agent answers as long as it runs.
func (h *health) Ping(ctx context.Context) error { return ctx.Err() }

// NotifyNodeStatus checks libvirtd now and then every interval, and hands
// the node to cb whenever Ready changes.
func (h *health) NotifyNodeStatus(ctx context.Context, cb func(*corev1.Node)) {
	go func() {
		t := time.NewTicker(h.interval)
		defer t.Stop()
		for {
			if n := h.check(ctx); n != nil {
				cb(n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// check connects to libvirtd and returns the node when Ready changed.
func (h *health) check(ctx context.Context) *corev1.Node {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := libvirtAlive(cctx, h.cfg)
	ok := err == nil
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ready != nil && *h.ready == ok {
		return nil
	}
	h.ready = &ok
	now := metav1.Now()
	for i, c := range h.node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "KubeletReady", "libvirtd answers; pod VMs can run"
		} else {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, "LibvirtdDown", err.Error()
			h.cfg.Log.Warn("node not ready", "node", h.cfg.NodeName, "reason", err)
		}
		h.node.Status.Conditions[i] = c
	}
	if ok {
		h.cfg.Log.Info("node ready", "node", h.cfg.NodeName)
	}
	return h.node.DeepCopy()
}

// libvirtAlive opens (and closes) a runtime connection to libvirtd.
func libvirtAlive(ctx context.Context, c *Config) error {
	rt, err := runtime.New(ctx, runtime.WithURI(c.URI), runtime.WithStateDir(c.StateDir))
	if err != nil {
		return err
	}
	return rt.Close()
}

// memTotalKiB reads MemTotal from /proc/meminfo.
func memTotalKiB() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			return strconv.ParseInt(fields[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/meminfo: no MemTotal")
}

// DefaultNodeIP is the host's first non-loopback IPv4 address, or
// 127.0.0.1 when it has none.
func DefaultNodeIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}
