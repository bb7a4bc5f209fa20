package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/podvm-migrate/podvm-migrate/checks"
)

// httpGet requests check c's URL once. A URL without a host goes to the
// pod VM's address for its port; its certificate is then not verified (the
// name the pod VM serves is unknown), while a URL with a host is verified
// as usual. Redirects are not followed: the expected status is the first
// response's.
func httpGet(ctx context.Context, addr Address, c checks.Check) (target, detail string, err error) {
	u := *c.URL
	verify := true
	if u.Hostname() == "" {
		hp, err := addr.HostPort(c.Port)
		if err != nil {
			return "", "", permanentError{err}
		}
		u.Host, verify = hp, false
	}
	if u.Path == "" {
		u.Path = "/"
	}
	target = u.String()
	tr := &http.Transport{
		Proxy:             nil, // the pod VM is local: no proxy from the environment
		DialContext:       (&net.Dialer{}).DialContext,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: !verify}, //nolint:gosec // a pod VM's name is unknown; see above
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return target, "", permanentError{err}
	}
	req.Header.Set("User-Agent", "podvm-migrate-check")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			// The server answered with a certificate this host does not
			// trust; a retry gets the same one.
			return target, "", permanentError{fmt.Errorf("GET %s: %w (give the URL without a host to check the pod VM's port without verifying its certificate)", target, err)}
		}
		if addr != nil && addr.Relayed() && !verify && closedByRelay(err) {
			return target, "", fmt.Errorf("GET %s: %w: the host's port forward accepted, then the guest closed the connection: nothing listens on that guest port", target, err)
		}
		return target, "", fmt.Errorf("GET %s: %w", target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != c.Status {
		return target, "", fmt.Errorf("GET %s: status %d, want %d", target, resp.StatusCode, c.Status)
	}
	return target, fmt.Sprintf("status %d", resp.StatusCode), nil
}
