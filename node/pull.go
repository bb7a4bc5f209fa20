package node

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containers/image/v5/docker/reference"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvm-migrate/podvm-migrate/image"
)

// imageRef turns a container image (HOST/REPO:TAG, as in a pod) into the
// reference containers/image reads, and returns the registry host.
func imageRef(img string) (ref, host string, err error) {
	img = strings.TrimPrefix(img, "docker://")
	named, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w", img, err)
	}
	named = reference.TagNameOnly(named)
	return "docker://" + named.String(), reference.Domain(named), nil
}

// registryOptions are the pull settings for one pod's image: plain HTTP
// or unverified TLS for --insecure-registry hosts, and the credentials for
// the image's registry from the pod's imagePullSecrets
// (kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg), first match.
func (p *Provider) registryOptions(pod *corev1.Pod, host string) (image.RegistryOptions, error) {
	var ro image.RegistryOptions
	for _, h := range p.cfg.InsecureRegistries {
		if h == host {
			no := false
			ro.TLSVerify = &no
		}
	}
	for _, ref := range pod.Spec.ImagePullSecrets {
		if p.secrets == nil {
			break
		}
		sec, err := p.secrets.Secrets(pod.Namespace).Get(ref.Name)
		if err != nil {
			// The kubelet goes on without a missing secret; so do we,
			// and the pull says what the registry answered.
			p.cfg.Log.Warn("image pull secret not readable", "pod", podKey(pod.Namespace, pod.Name), "secret", ref.Name, "err", err)
			continue
		}
		user, pass, ok, err := dockerAuth(sec, host)
		if err != nil {
			return ro, fmt.Errorf("imagePullSecret %s/%s: %w", pod.Namespace, ref.Name, err)
		}
		if ok {
			ro.Username, ro.Password = user, pass
			return ro, nil
		}
	}
	return ro, nil
}

// authEntry is one registry's entry in a docker config.
type authEntry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"` // base64 of user:password
}

// dockerAuth finds host's credentials in a pull secret.
func dockerAuth(sec *corev1.Secret, host string) (user, pass string, ok bool, err error) {
	var auths map[string]authEntry
	switch sec.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]authEntry `json:"auths"`
		}
		if err := json.Unmarshal(sec.Data[corev1.DockerConfigJsonKey], &cfg); err != nil {
			return "", "", false, fmt.Errorf("%s: %w", corev1.DockerConfigJsonKey, err)
		}
		auths = cfg.Auths
	case corev1.SecretTypeDockercfg:
		if err := json.Unmarshal(sec.Data[corev1.DockerConfigKey], &auths); err != nil {
			return "", "", false, fmt.Errorf("%s: %w", corev1.DockerConfigKey, err)
		}
	default:
		return "", "", false, nil
	}
	for key, e := range auths {
		if registryHost(key) != host {
			continue
		}
		if e.Username == "" && e.Auth != "" {
			b, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return "", "", false, fmt.Errorf("auth of %s: %w", key, err)
			}
			u, pw, found := strings.Cut(string(b), ":")
			if !found {
				return "", "", false, fmt.Errorf("auth of %s: not user:password", key)
			}
			e.Username, e.Password = u, pw
		}
		return e.Username, e.Password, true, nil
	}
	return "", "", false, nil
}

// registryHost reduces a docker config key (host, https://host/v1/, …)
// to the host, with Docker Hub's old names made docker.io.
func registryHost(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	k, _, _ = strings.Cut(k, "/")
	switch k {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return k
}
