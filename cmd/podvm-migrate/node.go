package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/kubevirt"
	"github.com/podvm-migrate/podvm-migrate/node"
)

func init() { register(newNodeCommand) }

func newNodeCommand(g *globalOptions) *cobra.Command {
	var (
		rf  runtimeFlags
		cfg node.Config
	)
	cmd := &cobra.Command{
		Use:   "node --node-name N",
		Short: "Run this host as a Kubernetes node whose pods are pod VMs",
		Long: `Register this host as a Kubernetes Node and run the pods bound to it whose one
container's image is a pod VM image as pod VMs on the included runtime.

The Node gets the host's CPUs and memory and --max-pods as capacity, the labels
kubernetes.io/os=linux and podvm-migrate.io/pod-vm=true and the taint
podvm-migrate.io/pod-vm=true:NoSchedule (a pod VM pod tolerates it and selects
the label), a lease as heartbeat, and Ready=False while libvirtd does not answer.
A pod's image is pulled with its imagePullSecrets (plain HTTP for
--insecure-registry hosts) and booted with the spec it carries; the
container's CPU and memory limits (else requests) replace the spec's. The pod
reports phase, conditions (Ready from the serial console's readiness line, or
the guest agent with the annotation podvm-migrate.io/ready=agent), podIP and
hostIP (--node-ip: pod VMs use user-mode networking; a container port with a
hostPort is published on the host), container state and restarts, and honours
restartPolicy. 'kubectl logs [-f]' shows the serial console through the
kubelet API on --listen. Deleting the pod stops and removes its pod VM. An
image that is not a pod VM image fails the pod with reason NotPodVMImage.

Stopping the agent leaves the pod VMs running; the next start adopts them
(records under --state-dir) without booting them again.

The cluster comes from --kubeconfig ($KUBECONFIG, else ~/.kube/config).`,
		Example: `  podvm-migrate node --node-name podvm-node-1 --kubeconfig node.conf
  podvm-migrate node --node-name podvm-node-1 --node-ip 192.0.2.10 --insecure-registry registry.lab:5000 --max-pods 20`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.NodeName == "" {
				return usageError{errors.New("--node-name is required: the name of the Node this host registers as")}
			}
			c, err := kubevirt.NewClient(g.kubeconfig)
			if err != nil {
				return err
			}
			cfg.Client, cfg.URI, cfg.StateDir, cfg.Log = c.Kube, rf.uri, rf.stateDir, g.log
			a, err := node.New(cfg)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.NodeName, "node-name", "", "the Node's name (required)")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registry HOST[:PORT] pulled over plain HTTP or unverified TLS (repeatable)")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "the address the API server reaches the kubelet API at; every pod's hostIP and podIP (default: the host's first non-loopback IPv4 address)")
	f.StringVar(&cfg.ListenAddr, "listen", ":10250", "address of the kubelet API (logs)")
	f.StringVar(&cfg.ServingCert, "tls-cert-file", "", "the kubelet API's certificate (default: a self-signed one)")
	f.StringVar(&cfg.ServingKey, "tls-private-key-file", "", "its key")
	f.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "CA of the API server's kubelet client certificate; requests are then authorized with SubjectAccessReviews (default: no authentication)")
	f.IntVar(&cfg.MaxPods, "max-pods", 110, "the pods capacity of the node")
	rf.register(f)
	return cmd
}
