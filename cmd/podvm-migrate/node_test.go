package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/kube"
	"github.com/podvm-migrate/podvm-migrate/testenv/libvirtd"
)

func TestNodeNeedsANodeName(t *testing.T) {
	_, errs, code := execute(t, "node", "--kubeconfig", "/nonexistent")
	if code != exitUsage || !strings.Contains(errs, "node-name") {
		t.Errorf("node without --node-name: exit %d (%s), want %d naming --node-name", code, errs, exitUsage)
	}
}

// TestNodeCommandRegistersNode runs 'podvm-migrate node' against a real
// kube-apiserver and libvirtd until its Node is Ready, then stops it.
func TestNodeCommandRegistersNode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node agent reaches libvirtd for qemu:///system and needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := libvirtd.Ensure(ctx, ""); err != nil {
		t.Fatal(err)
	}
	k := kube.StartForTest(t, kube.Options{NoCRDs: true})
	client, err := kubernetes.NewForConfig(k.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	actx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() {
		done <- run(actx, []string{"node", "--kubeconfig", k.Kubeconfig, "--node-name", "cli-node", "--node-ip", "127.0.0.1",
			"--listen", "127.0.0.1:" + strconv.Itoa(port), "--client-ca-file", k.KubeletClientCA,
			"--state-dir", testtool.LibvirtDir(t, "podvm-node-cli-")}, &out, &errb)
	}()
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case code := <-done:
			t.Fatalf("node exited %d early: %s", code, errb.String())
		default:
		}
		n, err := client.CoreV1().Nodes().Get(ctx, "cli-node", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return n.Labels["podvm-migrate.io/pod-vm"] == "true", nil
			}
		}
		return false, nil
	})
	stop()
	code := <-done
	if err != nil {
		t.Fatalf("node cli-node never Ready: %v\n%s", err, errb.String())
	}
	if code != exitOK {
		t.Errorf("node exited %d after its context ended, want 0: %s", code, errb.String())
	}
}
