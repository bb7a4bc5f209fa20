package guest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Pinning is what pinning the NIC names did.
type Pinning struct {
	Pinned   []NetName `json:"pinned,omitempty"`   // names given to MACs by NetNamesRules
	Unpinned []string  `json:"unpinned,omitempty"` // configured names no NIC was left for
	Rules    string    `json:"rules,omitempty"`    // the file written, when one was
}

// guestfishPID reads the PID guestfish --listen prints.
var guestfishPID = regexp.MustCompile(`GUESTFISH_PID=([0-9]+)`)

// PinNICNamesInGuest reads the guest's network configuration on disk (a
// libguestfs pass of its own: virt-v2v-in-place runs no scripts of ours),
// pairs the NIC names it uses with macs (the VM's NICs, in order) and
// writes NetNamesRules, so a configuration bound to VMware's names keeps
// working on virtio. It runs before virt-v2v, whose initramfs rebuild then
// carries the rules too, and whose SELinux relabel covers the file.
func PinNICNamesInGuest(ctx context.Context, disk string, macs []string, o Options) (*Pinning, error) {
	if o.Format == "" {
		o.Format = "qcow2"
	}
	accel := "tcg"
	if o.Accel == "kvm" {
		accel = "kvm"
	}
	if _, err := exec.LookPath("guestfish"); err != nil {
		return nil, fmt.Errorf("pin NIC names in %s: %w (install the guestfish package)", disk, err)
	}
	env := Environ(os.Environ(), accel, o.CacheDir)
	out, err := listenFish(ctx, env, "--listen", "--format="+o.Format, "-a", disk, "-i")
	if err != nil {
		return nil, fmt.Errorf("pin NIC names in %s: guestfish: %w: %s", disk, err, strings.TrimSpace(string(out)))
	}
	m := guestfishPID.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("pin NIC names in %s: guestfish --listen printed no PID: %q", disk, out)
	}
	fish := &remoteFish{pid: string(m[1]), env: env}
	defer fish.exit()

	files := map[string]string{}
	for _, g := range netConfigGlobs {
		paths, err := fish.lines(ctx, "glob-expand", g)
		if err != nil {
			return nil, fmt.Errorf("pin NIC names in %s: %w", disk, err)
		}
		for _, p := range paths {
			if ok, _ := fish.run(ctx, "is-file", p); strings.TrimSpace(ok) != "true" {
				continue
			}
			text, err := fish.run(ctx, "cat", p)
			if err != nil {
				return nil, fmt.Errorf("pin NIC names in %s: %w", disk, err)
			}
			files[p] = text
		}
	}
	res := &Pinning{}
	res.Pinned, res.Unpinned = PinNICNames(ConfiguredNICNames(files), macs)
	if len(res.Pinned) == 0 {
		return res, nil
	}
	if _, err := fish.run(ctx, "mkdir-p", "/etc/udev/rules.d"); err != nil {
		return nil, fmt.Errorf("pin NIC names in %s: %w", disk, err)
	}
	if _, err := fish.run(ctx, "write", NetNamesRules, UdevNetRules(res.Pinned)); err != nil {
		return nil, fmt.Errorf("pin NIC names in %s: %w", disk, err)
	}
	res.Rules = NetNamesRules
	// Unmount and sync before the next pass opens the disk.
	if _, err := fish.run(ctx, "umount-all"); err != nil {
		return nil, fmt.Errorf("pin NIC names in %s: %w", disk, err)
	}
	if _, err := fish.run(ctx, "shutdown"); err != nil {
		return nil, fmt.Errorf("pin NIC names in %s: %w", disk, err)
	}
	return res, nil
}

// listenFish starts a guestfish server and returns what it printed. Its
// output goes to a file, not a pipe: the server keeps its stderr open, so
// reading a pipe to its end would wait for the server to exit.
func listenFish(ctx context.Context, env []string, args ...string) ([]byte, error) {
	f, err := os.CreateTemp("", "podvm-guestfish-*.out")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := exec.CommandContext(ctx, "guestfish", args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	runErr := cmd.Run()
	out, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, err
	}
	return out, runErr
}

// remoteFish runs commands in a guestfish --listen server.
type remoteFish struct {
	pid string
	env []string
}

func (f *remoteFish) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "guestfish", append([]string{"--remote=" + f.pid, "--"}, args...)...)
	cmd.Env = f.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("guestfish %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func (f *remoteFish) lines(ctx context.Context, args ...string) ([]string, error) {
	out, err := f.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// exit stops the server; it outlives a cancelled ctx, so it gets its own.
func (f *remoteFish) exit() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := f.run(ctx, "exit"); err != nil {
		if pid, perr := strconv.Atoi(f.pid); perr == nil {
			if p, perr := os.FindProcess(pid); perr == nil {
				_ = p.Kill()
			}
		}
	}
}

func (p *Pinning) unpinned() []string {
	if p == nil {
		return nil
	}
	return p.Unpinned
}
