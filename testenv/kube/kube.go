// Package kube runs a real Kubernetes API server for the KubeVirt tests
// and the demo: Debian's etcd and a kube-apiserver on loopback, with
// self-signed certificates, a static token file (an admin and a user
// without permissions), kubeconfig files, and the KubeVirt CRDs
// (VirtualMachine, VirtualMachineInstance, CDI's DataVolume) whose
// structural schemas come from kubevirt client-go's OpenAPI definitions.
// No controllers run: tests play their part by writing status.
//
// The host needs etcd (the etcd-server package; make deps) and Go: the
// kube-apiserver is built once from the tools/kube-apiserver module of
// this repository into the cache (see APIServerPath).
package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/podvm-migrate/podvm-migrate/testenv"
)

// Options configures Start.
type Options struct {
	Dir       string // state folder (etcd data, certificates, logs, kubeconfigs); a new temp folder when empty
	CacheDir  string // where the kube-apiserver binary is cached; testenv.DefaultCacheDir() when empty
	APIServer string // a kube-apiserver binary to use instead of the cached build
	NoCRDs    bool   // leave the KubeVirt CRDs out (an API server without KubeVirt)
	// Scheduler also runs kube-scheduler (built from the same tools
	// module), which binds pods to nodes; no other controller runs.
	Scheduler bool
	Log       func(format string, args ...any)
}

// Timings says how long each start-up step took.
type Timings struct {
	Binary    time.Duration `json:"binary"`    // finding (or building) kube-apiserver
	Built     bool          `json:"built"`     // whether this start built it
	Etcd      time.Duration `json:"etcd"`      // etcd answering /health
	APIServer time.Duration `json:"apiserver"` // kube-apiserver answering /readyz
	CRDs      time.Duration `json:"crds"`      // KubeVirt CRDs established
	Scheduler time.Duration `json:"scheduler"` // kube-scheduler answering /healthz (with Options.Scheduler)
	Total     time.Duration `json:"total"`
}

// Server is a running etcd + kube-apiserver pair on loopback.
type Server struct {
	Dir            string `json:"dir"`
	URL            string `json:"url"`            // https://127.0.0.1:PORT
	Kubeconfig     string `json:"kubeconfig"`     // admin (system:masters)
	UserKubeconfig string `json:"userKubeconfig"` // an authenticated user with no permissions
	EtcdURL        string `json:"etcdURL"`
	// KubeletClientCA verifies the client certificate kube-apiserver shows
	// kubelets (node agents: podvm-migrate node --client-ca-file).
	KubeletClientCA string  `json:"kubeletClientCA"`
	CRDs            bool    `json:"crds"`
	Scheduler       bool    `json:"scheduler"` // kube-scheduler runs (Options.Scheduler)
	Timings         Timings `json:"timings"`

	secrets *kubeSecrets
	procs   []kubeProc
	ownDir  bool
}

// kubeProc is a started server; done closes when it has exited.
type kubeProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts Debian's etcd and kube-apiserver on loopback, writes
// kubeconfig files and installs the KubeVirt CRDs. No controllers run:
// tests play their part by writing status. Call Stop when done.
func Start(ctx context.Context, o Options) (k *Server, err error) {
	start := time.Now()
	log := o.Log
	if log == nil {
		log = func(string, ...any) {}
	}
	if o.CacheDir == "" {
		o.CacheDir = testenv.DefaultCacheDir()
	}
	k = &Server{Dir: o.Dir, CRDs: !o.NoCRDs}
	if k.Dir == "" {
		if k.Dir, err = os.MkdirTemp("", "podvm-kube-"); err != nil {
			return nil, fmt.Errorf("kube: %w", err)
		}
		k.ownDir = true
	} else if err := os.MkdirAll(k.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	defer func() {
		if err != nil {
			k.Stop()
		}
	}()

	bin := o.APIServer
	if bin == "" {
		if bin, k.Timings.Built, err = APIServerPath(ctx, o.CacheDir, log); err != nil {
			return nil, err
		}
	}
	k.Timings.Binary = time.Since(start)
	if _, err := exec.LookPath("etcd"); err != nil {
		return nil, fmt.Errorf("kube: etcd not found (install etcd-server): %w", err)
	}
	if k.secrets, err = writeKubeSecrets(k.Dir); err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}

	t := time.Now()
	ports, err := freePorts(3)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	k.EtcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	if err := k.startProcess("etcd", "etcd",
		"--name", "podvm", "--data-dir", filepath.Join(k.Dir, "etcd"),
		"--listen-client-urls", k.EtcdURL, "--advertise-client-urls", k.EtcdURL,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "podvm="+peer, "--log-level", "warn",
	); err != nil {
		return nil, err
	}
	if err := k.waitHTTP(ctx, "etcd", k.EtcdURL+"/health", nil, ""); err != nil {
		return nil, err
	}
	k.Timings.Etcd = time.Since(t)

	t = time.Now()
	k.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	s := k.secrets
	if err := k.startProcess("kube-apiserver", bin,
		"--etcd-servers", k.EtcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[2]),
		"--tls-cert-file", s.CertFile, "--tls-private-key-file", s.KeyFile, "--cert-dir", filepath.Join(k.Dir, "certs"),
		"--token-auth-file", s.TokenFile, "--authorization-mode", "RBAC",
		"--service-account-key-file", s.SAPubFile, "--service-account-signing-key-file", s.SAKeyFile,
		"--service-account-issuer", kubeIssuer, "--api-audiences", kubeIssuer,
		"--service-cluster-ip-range", "10.96.0.0/24", "--allow-privileged",
		"--enable-priority-and-fairness=false", "--profiling=false", "--endpoint-reconciler-type", "none",
		"--kubelet-client-certificate", s.KubeletCertFile, "--kubelet-client-key", s.KubeletKeyFile,
	); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAData)
	if err := k.waitHTTP(ctx, "kube-apiserver", k.URL+"/readyz", pool, s.AdminToken); err != nil {
		return nil, err
	}
	k.Timings.APIServer = time.Since(t)

	k.KubeletClientCA = s.KubeletCertFile
	k.Kubeconfig = filepath.Join(k.Dir, "kubeconfig")
	k.UserKubeconfig = filepath.Join(k.Dir, "kubeconfig-nobody")
	if err := k.writeKubeconfig(k.Kubeconfig, kubeAdminUser, s.AdminToken); err != nil {
		return nil, err
	}
	if err := k.writeKubeconfig(k.UserKubeconfig, kubePlainUser, s.UserToken); err != nil {
		return nil, err
	}

	if o.Scheduler {
		t = time.Now()
		sched, _, err := SchedulerPath(ctx, o.CacheDir, log)
		if err != nil {
			return nil, err
		}
		sp, err := freePorts(1)
		if err != nil {
			return nil, fmt.Errorf("kube: %w", err)
		}
		if err := k.startProcess("kube-scheduler", sched, "--kubeconfig", k.Kubeconfig, "--leader-elect=false",
			"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(sp[0]),
			"--tls-cert-file", s.CertFile, "--tls-private-key-file", s.KeyFile); err != nil {
			return nil, err
		}
		if err := k.waitHTTP(ctx, "kube-scheduler", "https://127.0.0.1:"+strconv.Itoa(sp[0])+"/healthz", pool, ""); err != nil {
			return nil, err
		}
		k.Scheduler = true
		k.Timings.Scheduler = time.Since(t)
	}
	if !o.NoCRDs {
		t = time.Now()
		if err := InstallKubeVirtCRDs(ctx, k.RESTConfig()); err != nil {
			return nil, fmt.Errorf("kube: %w", err)
		}
		k.Timings.CRDs = time.Since(t)
	}
	k.Timings.Total = time.Since(start)
	log("kube-apiserver %s ready at %s in %s (kubeconfig %s)", Version, k.URL, k.Timings.Total.Round(time.Millisecond), k.Kubeconfig)
	return k, nil
}

// RESTConfig is a client configuration for the admin user.
func (k *Server) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            k.URL,
		BearerToken:     k.secrets.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: k.secrets.CAData},
		QPS:             100, Burst: 200,
	}
}

// Stop ends kube-apiserver and etcd and removes a temp state folder.
func (k *Server) Stop() {
	for i := len(k.procs) - 1; i >= 0; i-- {
		p := k.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	k.procs = nil
	if k.ownDir {
		_ = os.RemoveAll(k.Dir)
	}
}

// startProcess starts a server with its output in DIR/NAME.log. It dies
// with this process (Pdeathsig) so a killed test leaves nothing behind.
func (k *Server) startProcess(name, bin string, args ...string) error {
	logf, err := os.Create(filepath.Join(k.Dir, name+".log"))
	if err != nil {
		return fmt.Errorf("kube: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kube: start %s: %w", name, err)
	}
	p := kubeProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	k.procs = append(k.procs, p)
	return nil
}

// waitHTTP polls url until it answers 200, the process dies or ctx ends.
func (k *Server) waitHTTP(ctx context.Context, name, url string, pool *x509.CertPool, token string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	exited := k.procs[len(k.procs)-1].done
	var last string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, fmt.Errorf("kube: %s: %w", name, err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-exited:
			return false, fmt.Errorf("kube: %s exited: %s", name, k.logTail(name))
		default:
			return false, nil
		}
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("kube: %s not ready (%s): %w; see %s", name, last, ctx.Err(), k.logTail(name))
	}
	return err
}

func (k *Server) logTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(k.Dir, name+".log"))
	return tail(b, 1500)
}

// writeKubeconfig writes a kubeconfig for one user of the token file.
func (k *Server) writeKubeconfig(path, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["podvm-testenv"] = &clientcmdapi.Cluster{Server: k.URL, CertificateAuthorityData: k.secrets.CAData}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["podvm-testenv"] = &clientcmdapi.Context{Cluster: "podvm-testenv", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "podvm-testenv"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("kube: kubeconfig %s: %w", path, err)
	}
	return nil
}

// freePorts asks the kernel for n unused loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// MarshalJSON writes the durations as text ("1.234s").
func (t Timings) MarshalJSON() ([]byte, error) {
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return json.Marshal(map[string]any{
		"binary": r(t.Binary), "built": t.Built, "etcd": r(t.Etcd), "apiserver": r(t.APIServer), "crds": r(t.CRDs), "scheduler": r(t.Scheduler), "total": r(t.Total),
	})
}
