package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/podvm-migrate/podvm-migrate/runtime"
)

var _ nodeutil.Provider = (*Provider)(nil)

// GetContainerLogs is 'kubectl logs': the pod VM's serial console, the
// last Tail lines of it, at most LimitBytes, followed while the pod VM
// runs with Follow.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, container string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	v, ok := p.pods[podKey(namespace, podName)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, podName)
	}
	if container != "" && container != containerName(v.pod) {
		return nil, errdefs.NotFoundf("pod %s/%s has no container %q", namespace, podName, container)
	}
	rt, err := p.openRuntime(ctx, runtime.RegistryOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := rt.Get(ctx, v.vm); errors.Is(err, runtime.ErrNotFound) {
		rt.Close()
		return nil, errdefs.InvalidInputf("pod %s/%s: its pod VM has not started yet (see the pod's status)", namespace, podName)
	}
	if !opts.Follow {
		defer rt.Close()
		var buf bytes.Buffer
		if err := rt.Logs(ctx, v.vm, &buf, false); err != nil {
			return nil, fmt.Errorf("pod %s/%s: %w", namespace, podName, err)
		}
		b := tail(buf.Bytes(), opts.Tail)
		if opts.LimitBytes > 0 && len(b) > opts.LimitBytes {
			b = b[:opts.LimitBytes]
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	pr, pw := io.Pipe()
	go func() {
		defer rt.Close()
		var w io.Writer = pw
		if opts.LimitBytes > 0 {
			w = &limitWriter{w: pw, left: opts.LimitBytes}
		}
		pw.CloseWithError(rt.Logs(ctx, v.vm, w, true))
	}()
	return pr, nil
}

// tail keeps the last n lines of b (all of it when n <= 0).
func tail(b []byte, n int) []byte {
	if n <= 0 {
		return b
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

// limitWriter stops (with an error) after left bytes.
type limitWriter struct {
	w    io.Writer
	left int
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.ErrShortWrite
	}
	if len(b) > l.left {
		n, err := l.w.Write(b[:l.left])
		l.left -= n
		if err == nil {
			err = io.ErrShortWrite
		}
		return n, err
	}
	n, err := l.w.Write(b)
	l.left -= n
	return n, err
}

// RunInContainer is 'kubectl exec': a pod VM has no container to run in.
func (p *Provider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return errdefs.InvalidInput("exec is not supported by pod VMs: log in to the guest over its network or console")
}

// AttachToContainer is 'kubectl attach': not supported.
func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errdefs.InvalidInput("attach is not supported by pod VMs: use 'kubectl logs -f' for the serial console")
}

// PortForward is 'kubectl port-forward': not supported; publish a
// hostPort instead.
func (p *Provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return errdefs.InvalidInput("port-forward is not supported by pod VMs: give the container port a hostPort")
}

// GetStatsSummary is not served.
func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, errdefs.InvalidInput("stats are not served by the pod VM agent")
}

// GetMetricsResource is not served.
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errdefs.InvalidInput("metrics are not served by the pod VM agent")
}
