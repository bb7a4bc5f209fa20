package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
)

func init() { register(newKubeCommand) }

func newKubeCommand(o *options) *cobra.Command {
	var (
		ko       kube.Options
		timeout  time.Duration
		duration time.Duration
		ready    bool
		build    bool
	)
	cmd := &cobra.Command{
		Use:   "kube [--dir DIR] [--no-crds]",
		Short: "Serve a real Kubernetes API server (etcd + kube-apiserver) with the KubeVirt CRDs",
		Long: fmt.Sprintf(`Start Debian's etcd and kube-apiserver %s on loopback, write a kubeconfig
file, install the KubeVirt CRDs (VirtualMachine, VirtualMachineInstance and
CDI's DataVolume, with schemas generated from kubevirt client-go's OpenAPI
definitions), print where everything is and how long each step took, then
serve until interrupted. No controllers run: nothing reconciles or runs VMs.

kube-apiserver is built once from tools/kube-apiserver into
--cache-dir (several minutes on a small machine) and reused after that.

Two kubeconfigs are written: "kubeconfig" (an admin in system:masters) and
"kubeconfig-nobody" (an authenticated user without any permission).`, kube.Version),
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ko.CacheDir = o.cacheDir
			ko.Log = func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "kube: "+f+"\n", a...) }
			ctx := cmd.Context()
			startCtx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if build {
				start := time.Now()
				path, built, err := kube.APIServerPath(startCtx, o.cacheDir, ko.Log)
				if err != nil {
					return err
				}
				return output.Print(cmd.OutOrStdout(), orTable(o.format), binaryTable{Path: path, Built: built, Duration: time.Since(start).Round(time.Millisecond).String()})
			}
			k, err := kube.Start(startCtx, ko)
			if err != nil {
				return err
			}
			defer k.Stop()
			if err := output.Print(cmd.OutOrStdout(), orTable(o.format), kubeTable{k}); err != nil {
				return err
			}
			if ready {
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "kube: serving at %s; export KUBECONFIG=%s (Ctrl-C to stop)\n", k.URL, k.Kubeconfig)
			serveUntil(ctx, duration)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ko.Dir, "dir", "", "state folder: etcd data, certificates, logs, kubeconfigs (default: a temporary folder, removed on exit)")
	f.BoolVar(&ko.NoCRDs, "no-crds", false, "do not install the KubeVirt CRDs (an API server without KubeVirt)")
	f.StringVar(&ko.APIServer, "kube-apiserver", "", "use this kube-apiserver binary instead of the cached build")
	f.DurationVar(&timeout, "timeout", 20*time.Minute, "how long start-up (including a first build) may take")
	f.DurationVar(&duration, "for", 0, "stop after this long (default: until interrupted)")
	f.BoolVar(&ready, "ready", false, "stop as soon as everything is ready (measures start-up)")
	f.BoolVar(&build, "build-only", false, "only build (or find) the cached kube-apiserver binary and print its path")
	return cmd
}

type kubeTable struct{ *kube.Server }

func (k kubeTable) Header() []string {
	return []string{"url", "kubeconfig", "crds", "binary", "etcd", "apiserver", "crd time", "total"}
}

func (k kubeTable) Rows() [][]string {
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	bin := ms(k.Timings.Binary)
	if k.Timings.Built {
		bin += " (built)"
	}
	return [][]string{{k.URL, k.Kubeconfig, fmt.Sprint(k.CRDs), bin, ms(k.Timings.Etcd), ms(k.Timings.APIServer), ms(k.Timings.CRDs), ms(k.Timings.Total)}}
}

// binaryTable is the result of --build-only.
type binaryTable struct {
	Path     string `json:"path"`
	Built    bool   `json:"built"`
	Duration string `json:"duration"`
}

func (b binaryTable) Header() []string { return []string{"kube-apiserver", "built", "took"} }
func (b binaryTable) Rows() [][]string {
	return [][]string{{b.Path, fmt.Sprint(b.Built), b.Duration}}
}
