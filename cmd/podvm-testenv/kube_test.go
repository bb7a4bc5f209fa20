package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestKubeCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		keys []string
	}{
		{"build only", []string{"kube", "--build-only", "-o", "json"}, []string{"path", "built", "duration"}},
		{"ready", []string{"kube", "--ready", "--dir", filepath.Join(t.TempDir(), "kube"), "-o", "json"}, []string{"url", "kubeconfig", "userKubeconfig", "timings"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCommand()
			var out, errb bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errb)
			root.SetArgs(tt.args)
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, errb.String())
			}
			var got map[string]any
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("%v: not JSON: %v\n%s", tt.args, err, out.String())
			}
			for _, k := range tt.keys {
				if _, ok := got[k]; !ok {
					t.Errorf("%v: no %q in %s", tt.args, k, out.String())
				}
			}
			if kc, ok := got["kubeconfig"].(string); ok {
				if _, err := os.Stat(kc); err != nil {
					t.Errorf("kubeconfig: %v", err)
				}
			}
		})
	}
}
