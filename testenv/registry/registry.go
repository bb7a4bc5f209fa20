// Package registry runs a local OCI registry for tests and the demo:
// Debian's docker-registry (the CNCF distribution registry) on a free
// loopback port, plain HTTP, with filesystem storage in a folder of the
// caller's. The host needs the docker-registry package (make deps).
package registry

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
)

// Binary is Debian's docker-registry (the CNCF distribution registry).
const Binary = "/usr/bin/docker-registry"

// Server is a local OCI registry on loopback with filesystem storage,
// for tests and the demo. Plain HTTP: clients need TLS verification off.
type Server struct {
	Addr string `json:"addr"` // host:port on 127.0.0.1
	Dir  string `json:"dir"`  // storage and config folder
	cmd  *exec.Cmd
	done chan error
}

// Start starts docker-registry serving dir (created if missing) on
// a free loopback port and waits until it answers /v2/. Stop ends it.
func Start(ctx context.Context, dir string) (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("registry: %w (install docker-registry)", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o755); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registry: pick a port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, filepath.Join(dir, "storage"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(Binary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("registry: start %s: %w", Binary, err)
	}
	r := &Server{Addr: addr, Dir: dir, cmd: cmd, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, nil
			}
		}
		select {
		case err := <-r.done:
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			return false, fmt.Errorf("registry: exited before answering (%v): %s", err, cmdrun.LastLine(b))
		default:
			return false, nil
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			r.Stop()
			return nil, fmt.Errorf("registry: %s did not answer: %w", addr, ctx.Err())
		}
		return nil, err
	}
	return r, nil
}

// Ref returns the docker:// reference of repo:tag in this registry.
func (r *Server) Ref(repoTag string) string {
	return "docker://" + r.Addr + "/" + strings.TrimPrefix(repoTag, "/")
}

// Wait blocks until the registry exits or ctx ends.
func (r *Server) Wait(ctx context.Context) error {
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the registry process; its storage stays in Dir.
func (r *Server) Stop() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	err := <-r.done
	r.done <- err
}
