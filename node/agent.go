package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// Agent is a node agent: the Node, its lease, the pod controller and the
// kubelet API, with pods run as pod VMs.
type Agent struct {
	cfg      Config
	node     *nodeutil.Node
	provider *Provider
}

// New prepares the agent; Run registers the node and serves.
func New(cfg Config) (*Agent, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg}
	c := &a.cfg
	_, portStr, err := net.SplitHostPort(c.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("node %s: listen address %q: %w", c.NodeName, c.ListenAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 {
		return nil, fmt.Errorf("node %s: listen address %q: want HOST:PORT with a port number", c.NodeName, c.ListenAddr)
	}
	nodeObj, err := nodeObject(c, int32(port))
	if err != nil {
		return nil, err
	}
	tlsCfg, err := servingTLS(c)
	if err != nil {
		return nil, err
	}
	auth := nodeutil.NoAuth()
	if c.ClientCAFile != "" {
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("node %s: client CA %s: %w", c.NodeName, c.ClientCAFile, err)
		}
		tlsCfg.ClientAuth = tls.RequestClientCert // verified by the authenticator below
		if auth, err = nodeutil.WebhookAuth(c.Client, c.NodeName, func(w *nodeutil.WebhookAuthConfig) error {
			w.AuthnConfig.ClientCertificateCAContentProvider = ca
			return nil
		}); err != nil {
			return nil, fmt.Errorf("node %s: kubelet API authentication: %w", c.NodeName, err)
		}
	} else {
		c.Log.Warn("kubelet API without authentication: anyone who reaches it may read pod VM consoles; pass --client-ca-file")
	}
	mux := http.NewServeMux()
	a.node, err = nodeutil.NewNode(c.NodeName, func(pc nodeutil.ProviderConfig) (nodeutil.Provider, vknode.NodeProvider, error) {
		a.provider = newProvider(c, pc.Secrets)
		return a.provider, &health{cfg: c, node: pc.Node.DeepCopy(), interval: 5 * time.Second}, nil
	},
		nodeutil.WithClient(c.Client),
		func(nc *nodeutil.NodeConfig) error {
			nc.NodeSpec = *nodeObj
			nc.HTTPListenAddr = c.ListenAddr
			nc.TLSConfig = tlsCfg
			nc.Handler = nodeutil.WithAuth(auth, mux)
			nc.NumWorkers = 4
			return nil
		},
		nodeutil.AttachProviderRoutes(mux),
	)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", c.NodeName, err)
	}
	return a, nil
}

// Run adopts the pod VMs an earlier run left, registers the node and
// serves until ctx ends or a controller fails. Pod VMs keep running when
// the agent stops; the next run adopts them.
func (a *Agent) Run(ctx context.Context) error {
	ctx = vklog.WithLogger(ctx, vkslog.FromSlog(a.cfg.Log))
	if err := a.provider.start(ctx); err != nil {
		return err
	}
	defer a.provider.close()
	a.cfg.Log.Info("node agent starting", "node", a.cfg.NodeName, "address", a.cfg.NodeIP, "listen", a.cfg.ListenAddr, "stateDir", a.cfg.StateDir)
	err := a.node.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", a.cfg.NodeName, err)
	}
	return nil
}

// WaitReady waits until the node is registered and its controllers run.
func (a *Agent) WaitReady(ctx context.Context, timeout time.Duration) error {
	return a.node.WaitReady(ctx, timeout)
}
