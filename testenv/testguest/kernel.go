package testguest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/testenv/internal/cmdrun"
)

// Kernel is a Debian cloud kernel unpacked into the cache: the image the
// bootloader loads and the modules the initramfs needs for virtio devices.
type Kernel struct {
	Release string // e.g. 6.1.0-56-cloud-amd64
	Vmlinuz string // path to the kernel image
	Modules string // path to lib/modules/<release>
}

// cloudKernelMeta is Debian's meta package that depends on the newest cloud kernel.
const cloudKernelMeta = "linux-image-cloud-amd64"

var kernelPkgRE = regexp.MustCompile(`linux-image-([0-9][^ \s]*-cloud-amd64)\b`)

// FetchKernel returns the Debian cloud kernel, downloading it with
// `apt-get download` and unpacking it with `dpkg-deb -x` on first use. A deb
// given in debPath (or PODVM_KERNEL_DEB) is used instead of the archive.
func FetchKernel(ctx context.Context, cacheDir, debPath string) (*Kernel, error) {
	if debPath == "" {
		debPath = os.Getenv("PODVM_KERNEL_DEB")
	}
	if k, err := cachedKernel(cacheDir); err == nil && debPath == "" {
		return k, nil
	}
	dlDir := filepath.Join(cacheDir, "debs")
	if err := os.MkdirAll(dlDir, 0o755); err != nil {
		return nil, fmt.Errorf("kernel: create %s: %w", dlDir, err)
	}
	if debPath == "" {
		pkg, err := resolveCloudKernel(ctx)
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
		cmd.Dir = dlDir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("kernel: apt-get download %s: %w: %s (run 'apt-get update' first, or pass --kernel-deb)", pkg, err, cmdrun.LastLine(out))
		}
		matches, _ := filepath.Glob(filepath.Join(dlDir, pkg+"_*.deb"))
		if len(matches) == 0 {
			return nil, fmt.Errorf("kernel: apt-get download %s left no .deb in %s", pkg, dlDir)
		}
		debPath = matches[len(matches)-1]
	}
	tmp, err := os.MkdirTemp(cacheDir, ".kernel-")
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debPath, tmp).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kernel: dpkg-deb -x %s: %w: %s", debPath, err, cmdrun.LastLine(out))
	}
	final := filepath.Join(cacheDir, "kernel")
	if err := os.RemoveAll(final); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	return cachedKernel(cacheDir)
}

func cachedKernel(cacheDir string) (*Kernel, error) {
	dir := filepath.Join(cacheDir, "kernel")
	images, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return nil, fmt.Errorf("kernel: no single vmlinuz in %s", dir)
	}
	release := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	mods := filepath.Join(dir, "lib", "modules", release)
	if _, err := os.Stat(mods); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	return &Kernel{Release: release, Vmlinuz: images[0], Modules: mods}, nil
}

// resolveCloudKernel asks apt which versioned package the meta package
// currently depends on (the meta package itself holds no kernel).
func resolveCloudKernel(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", cloudKernelMeta).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kernel: apt-cache depends %s: %w: %s", cloudKernelMeta, err, cmdrun.LastLine(out))
	}
	m := kernelPkgRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("kernel: apt knows no %s (run 'apt-get update' first)", cloudKernelMeta)
	}
	return "linux-image-" + m[1], nil
}
