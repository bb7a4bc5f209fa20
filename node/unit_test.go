package node

import (
	"encoding/base64"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

func TestDockerAuth(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct {
		name     string
		typ      corev1.SecretType
		data     string
		host     string
		user, pw string
		ok       bool
		err      bool
	}{
		{"dockerconfigjson user and password", corev1.SecretTypeDockerConfigJson,
			`{"auths":{"reg.example.com:5000":{"username":"alice","password":"s3cret"}}}`, "reg.example.com:5000", "alice", "s3cret", true, false},
		{"auth field, https key with path", corev1.SecretTypeDockerConfigJson,
			`{"auths":{"https://reg.example.com/v1/":{"auth":"` + b64([]byte("bob:pa:ss")) + `"}}}`, "reg.example.com", "bob", "pa:ss", true, false},
		{"Docker Hub's old name", corev1.SecretTypeDockerConfigJson,
			`{"auths":{"https://index.docker.io/v1/":{"username":"c","password":"d"}}}`, "docker.io", "c", "d", true, false},
		{"other registry only", corev1.SecretTypeDockerConfigJson,
			`{"auths":{"other.example.com":{"username":"x","password":"y"}}}`, "reg.example.com", "", "", false, false},
		{"legacy dockercfg", corev1.SecretTypeDockercfg,
			`{"reg.example.com":{"username":"e","password":"f"}}`, "reg.example.com", "e", "f", true, false},
		{"not a pull secret", corev1.SecretTypeOpaque, `{}`, "reg.example.com", "", "", false, false},
		{"broken JSON", corev1.SecretTypeDockerConfigJson, `{"auths":`, "reg.example.com", "", "", false, true},
		{"auth not user:password", corev1.SecretTypeDockerConfigJson,
			`{"auths":{"reg.example.com":{"auth":"` + b64([]byte("nocolon")) + `"}}}`, "reg.example.com", "", "", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := corev1.DockerConfigJsonKey
			if c.typ == corev1.SecretTypeDockercfg {
				key = corev1.DockerConfigKey
			}
			sec := &corev1.Secret{Type: c.typ, Data: map[string][]byte{key: []byte(c.data)}}
			user, pw, ok, err := dockerAuth(sec, c.host)
			if (err != nil) != c.err || ok != c.ok || user != c.user || pw != c.pw {
				t.Errorf("got %q %q %v %v, want %q %q %v err=%v", user, pw, ok, err, c.user, c.pw, c.ok, c.err)
			}
		})
	}
}

func TestImageRef(t *testing.T) {
	cases := []struct{ in, ref, host string }{
		{"127.0.0.1:5000/podvm/guest:v1", "docker://127.0.0.1:5000/podvm/guest:v1", "127.0.0.1:5000"},
		{"reg.example.com/web01", "docker://reg.example.com/web01:latest", "reg.example.com"},
		{"busybox", "docker://docker.io/library/busybox:latest", "docker.io"},
		{"reg.example.com/a/b@sha256:" + strings.Repeat("ab", 32), "docker://reg.example.com/a/b@sha256:" + strings.Repeat("ab", 32), "reg.example.com"},
	}
	for _, c := range cases {
		ref, host, err := imageRef(c.in)
		if err != nil || ref != c.ref || host != c.host {
			t.Errorf("imageRef(%q) = %q %q %v, want %q %q", c.in, ref, host, err, c.ref, c.host)
		}
	}
	if _, _, err := imageRef("UPPER/case"); err == nil {
		t.Error("imageRef accepted an invalid reference")
	}
}

func TestVMName(t *testing.T) {
	long := strings.Repeat("very-long-name.", 10)
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: types.UID("u1")}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "team.a", Name: long, UID: types.UID("u2")}},
	} {
		n := VMName(p)
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 || !podvm.IsDNS1123Label(n) {
			t.Errorf("VMName %q is not a DNS-1123 label: %v", n, errs)
		}
		q := p.DeepCopy()
		q.UID = "other"
		if VMName(q) == n {
			t.Errorf("a re-created pod (new UID) gets the same pod VM name %q", n)
		}
	}
}

func TestApplyResources(t *testing.T) {
	base := podvm.Spec{CPU: podvm.CPU{Sockets: 2, Cores: 2, Threads: 2}, MemoryMiB: 4096}
	q := resource.MustParse
	cases := []struct {
		name   string
		r      corev1.ResourceRequirements
		vcpus  int
		memory int64
	}{
		{"nothing set keeps the spec", corev1.ResourceRequirements{}, 8, 4096},
		{"limits win over requests", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("512Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("3"), corev1.ResourceMemory: q("1Gi")}}, 3, 1024},
		{"requests alone, rounded up", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("1000M")}}, 2, 954},
		{"memory only", corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("2Gi")}}, 8, 2048},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base
			applyResources(&s, c.r)
			if s.CPU.VCPUs() != c.vcpus || s.MemoryMiB != c.memory {
				t.Errorf("got %d vCPUs %d MiB, want %d and %d", s.CPU.VCPUs(), s.MemoryMiB, c.vcpus, c.memory)
			}
		})
	}
}

func TestTail(t *testing.T) {
	log := []byte("a\nb\nc\n")
	for n, want := range map[int]string{0: "a\nb\nc\n", 1: "c\n", 2: "b\nc\n", 5: "a\nb\nc\n"} {
		if got := string(tail(log, n)); got != want {
			t.Errorf("tail %d = %q, want %q", n, got, want)
		}
	}
}
