package node

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/podvm-migrate/podvm-migrate/runtime"
)

// Labels and the taint every pod VM node carries, and what a pod needs to
// be placed on one (see Toleration and NodeSelector).
const (
	LabelPodVM = "podvm-migrate.io/pod-vm" // "true" on pod VM nodes
	TaintPodVM = LabelPodVM                // NoSchedule: ordinary pods stay away
)

// Config is one node agent.
type Config struct {
	NodeName   string               // the Node's name (DNS-1123 subdomain)
	Client     kubernetes.Interface // the cluster
	StateDir   string               // runtime's state folder; the agent's records go under node/
	URI        string               // libvirt URI; default runtime.DefaultURI
	NodeIP     string               // the address the API server reaches the kubelet API at; also every pod's hostIP and podIP
	ListenAddr string               // the kubelet API; default :10250
	// ServingCert and ServingKey are the kubelet API's certificate (PEM
	// files); a self-signed one for NodeIP is made when they are empty.
	ServingCert, ServingKey string
	// ClientCAFile verifies the API server's client certificate on the
	// kubelet API (kube-apiserver --kubelet-client-certificate), and
	// requests are then authorized with SubjectAccessReviews like a
	// kubelet's. Empty: the kubelet API accepts anyone who reaches it.
	ClientCAFile       string
	InsecureRegistries []string      // registry hosts pulled over plain HTTP or unverified TLS
	MaxPods            int           // the pods capacity; default 110
	StatusInterval     time.Duration // how often a pod VM's state is read; default 2s
	Log                *slog.Logger
}

func (c *Config) defaults() error {
	if c.NodeName == "" {
		return fmt.Errorf("node: no node name given (--node-name)")
	}
	if c.Client == nil {
		return fmt.Errorf("node %s: no Kubernetes client (--kubeconfig)", c.NodeName)
	}
	if c.StateDir == "" {
		c.StateDir = runtime.DefaultStateDir
	}
	if c.URI == "" {
		c.URI = runtime.DefaultURI
	}
	if c.NodeIP == "" {
		c.NodeIP = DefaultNodeIP()
	}
	if c.ListenAddr == "" {
		c.ListenAddr = ":10250"
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = 2 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}
