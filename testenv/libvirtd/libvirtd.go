// Package libvirtd makes sure a libvirt daemon answers for the runtime
// tests and the demo: it connects to qemu:///system and, on machines
// without systemd, starts virtlogd and libvirtd itself. Starting them
// needs root and the libvirt-daemon-system package (make deps); the
// package links libvirt's C library (libvirt-dev) through cgo.
package libvirtd

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"libvirt.org/go/libvirt"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
)

// Status says what Ensure found or started.
type Status struct {
	URI             string   `json:"uri"`
	LibvirtVersion  string   `json:"libvirtVersion"`
	HypervisorVer   string   `json:"hypervisorVersion"`
	Started         []string `json:"started"` // daemons this call started
	ConnectDuration string   `json:"connectDuration"`
}

// Ensure connects to uri (default qemu:///system) and, when that
// fails, starts virtlogd and libvirtd as daemons and tries again until the
// daemon answers or ctx ends. There is no systemd on these machines.
func Ensure(ctx context.Context, uri string) (*Status, error) {
	if uri == "" {
		uri = "qemu:///system"
	}
	st := &Status{URI: uri}
	start := time.Now()
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		for _, d := range []string{"virtlogd", "libvirtd"} {
			if exec.CommandContext(ctx, "pgrep", "-x", d).Run() == nil {
				continue
			}
			if out, err := exec.CommandContext(ctx, d, "-d").CombinedOutput(); err != nil {
				return nil, fmt.Errorf("libvirt: start %s: %w: %s (install libvirt-daemon-system)", d, err, cmdrun.LastLine(out))
			}
			st.Started = append(st.Started, d)
		}
		var last error
		if werr := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) {
			conn, last = libvirt.NewConnect(uri)
			return last == nil, nil
		}); werr != nil {
			return nil, fmt.Errorf("libvirt: %s did not answer after starting the daemons: %w (%v)", uri, werr, last)
		}
	}
	defer conn.Close()
	st.ConnectDuration = time.Since(start).Round(time.Millisecond).String()
	if v, err := conn.GetLibVersion(); err == nil {
		st.LibvirtVersion = versionString(v)
	}
	if v, err := conn.GetVersion(); err == nil {
		st.HypervisorVer = versionString(v)
	}
	return st, nil
}

func versionString(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}
