package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Version is the Kubernetes release whose kube-apiserver the test
// environment builds: the version of k8s.io/client-go that kubevirt
// client-go uses.
const Version = "v1.34.3"

// kubeToolsModule is where the tools module that builds kube-apiserver
// lives, relative to the repository root.
const kubeToolsModule = "tools/kube-apiserver"

// APIServerPath returns the path of a cached kube-apiserver binary of
// Version under cacheDir, building it first from the tools module when
// it is not there (about 7 minutes on 2 cores, once). Concurrent callers
// (parallel test binaries) wait for one build through a lock file. built
// says whether this call built it.
func APIServerPath(ctx context.Context, cacheDir string, log func(string, ...any)) (path string, built bool, err error) {
	return binaryPath(ctx, cacheDir, "kube-apiserver", log)
}

// SchedulerPath is APIServerPath for kube-scheduler, built from the same
// tools module (seconds once kube-apiserver was built: they share most
// packages).
func SchedulerPath(ctx context.Context, cacheDir string, log func(string, ...any)) (path string, built bool, err error) {
	return binaryPath(ctx, cacheDir, "kube-scheduler", log)
}

// binaryPath finds or builds k8s.io/kubernetes/cmd/NAME of Version.
func binaryPath(ctx context.Context, cacheDir, name string, log func(string, ...any)) (path string, built bool, err error) {
	if log == nil {
		log = func(string, ...any) {}
	}
	dir := filepath.Join(cacheDir, name, Version)
	path = filepath.Join(dir, name)
	if isExecutable(path) {
		return path, false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("%s: cache: %w", name, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if isExecutable(path) { // another process built it while we waited
		return path, false, nil
	}
	src, err := findKubeToolsModule()
	if err != nil {
		return "", false, err
	}
	start := time.Now()
	log("building %s %s from %s (once; up to several minutes)", name, Version, src)
	tmp := path + ".tmp"
	pkgVersion := "k8s.io/component-base/version"
	ldflags := fmt.Sprintf("-s -w -X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=1 -X %[1]s.gitMinor=%[3]s -X %[1]s.gitTreeState=clean",
		pkgVersion, Version, strings.Split(Version, ".")[1])
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", tmp, "k8s.io/kubernetes/cmd/"+name)
	cmd.Dir = src
	// A static, cgo-free binary, and none of the main module's build
	// settings (its tags and CGO_ENABLED=1 would only change the cache key).
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly -buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", false, fmt.Errorf("%s: go build in %s: %w: %s", name, src, err, tail(out, 2000))
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("%s: %w", name, err)
	}
	log("built %s in %s", name, time.Since(start).Round(time.Second))
	return path, true, nil
}

// findKubeToolsModule looks for the tools module from the working
// directory upwards: tests run in their package folder, the CLI from the
// repository.
func findKubeToolsModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kube-apiserver: %w", err)
	}
	for {
		p := filepath.Join(dir, kubeToolsModule)
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("kube-apiserver %s is not cached and %s/go.mod is not found above the working directory: run from the podvm-migrate repository or pass a kube-apiserver binary", Version, kubeToolsModule)
		}
		dir = parent
	}
}

// lockFile takes an exclusive flock on path, polling so ctx can end the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(context.Context) (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // another build holds it
		}
		return err == nil, err
	})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
