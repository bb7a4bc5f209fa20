package kubevirt

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	cdiclient "kubevirt.io/client-go/containerizeddataimporter"
	kubevirtclient "kubevirt.io/client-go/kubevirt"
)

// FieldManager is the server-side apply field manager of podvm-migrate.
const FieldManager = "podvm-migrate"

// Client talks to one Kubernetes cluster through kubevirt client-go.
type Client struct {
	Host     string
	Config   *rest.Config
	KubeVirt kubevirtclient.Interface
	CDI      cdiclient.Interface
	Kube     kubernetes.Interface
}

// NewClient reads a kubeconfig file (empty: the usual $KUBECONFIG and
// ~/.kube/config rules) and makes the clients.
func NewClient(kubeconfig string) (*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if kubeconfig == "" {
			return nil, fmt.Errorf("kubeconfig: %w (use --kubeconfig or $KUBECONFIG)", err)
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return NewClientForConfig(cfg)
}

// NewClientForConfig makes the clients for a REST configuration.
func NewClientForConfig(cfg *rest.Config) (*Client, error) {
	c := &Client{Host: cfg.Host, Config: cfg}
	var err error
	if c.KubeVirt, err = kubevirtclient.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("kubevirt client: %w", err)
	}
	if c.CDI, err = cdiclient.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("cdi client: %w", err)
	}
	if c.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return c, nil
}

// CheckInstalled asks the API server's discovery whether KubeVirt's
// VirtualMachine (and, when needed, CDI's DataVolume) API is served.
func (c *Client) CheckInstalled(ctx context.Context, needCDI bool) error {
	if err := c.serves(ctx, "kubevirt.io/v1", "virtualmachines"); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("KubeVirt is not installed on %s (no kubevirt.io/v1 VirtualMachine API)", c.Host)
		}
		return explain(err, "", "")
	}
	if needCDI {
		if err := c.serves(ctx, "cdi.kubevirt.io/v1beta1", "datavolumes"); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("CDI (KubeVirt's Containerized Data Importer) is not installed on %s (no cdi.kubevirt.io/v1beta1 DataVolume API)", c.Host)
			}
			return explain(err, "", "")
		}
	}
	return nil
}

func (c *Client) serves(ctx context.Context, groupVersion, resource string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	list, err := c.Kube.Discovery().ServerResourcesForGroupVersion(groupVersion)
	if err != nil {
		return err
	}
	for _, r := range list.APIResources {
		if r.Name == resource {
			return nil
		}
	}
	return apierrors.NewNotFound(schemaGroupResource(groupVersion, resource), "")
}
