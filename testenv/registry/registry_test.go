package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
)

func TestRegistry(t *testing.T) {
	testtool.Require(t, Binary)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Addr, "127.0.0.1:") || r.Ref("podvm/x:v1") != "docker://"+r.Addr+"/podvm/x:v1" {
		t.Errorf("registry %+v", r)
	}
	resp, err := http.Get("http://" + r.Addr + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("catalog: %s", resp.Status)
	}
	r.Stop()
	if _, err := http.Get("http://" + r.Addr + "/v2/"); err == nil {
		t.Error("registry still answers after Stop")
	}
	if err := r.Wait(ctx); err == nil {
		t.Error("Wait after Stop reports no exit")
	}
}

func TestStartForTest(t *testing.T) {
	r := StartForTest(t)
	resp, err := http.Get("http://" + r.Addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/v2/: %s", resp.Status)
	}
}
