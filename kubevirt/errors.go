package kubevirt

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// explain turns an API server error about one object into one clear line,
// naming the object: missing CRDs, forbidden, invalid, unauthorized and
// unreachable servers each read differently.
func explain(err error, kind, name string) error {
	if err == nil {
		return nil
	}
	what := ""
	if kind != "" {
		what = kind + " " + name + ": "
	}
	var status apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		msg := statusMessage(err)
		if _, after, ok := strings.Cut(msg, " is forbidden: "); ok {
			msg = after
		}
		return wrapAs(err, "%sforbidden: %s", what, msg)
	case apierrors.IsUnauthorized(err):
		return wrapAs(err, "%sunauthorized: the API server rejected the kubeconfig's credentials", what)
	case apierrors.IsInvalid(err):
		return wrapAs(err, "%sinvalid: %s", what, invalidCauses(err))
	case apierrors.IsNotFound(err) && errors.As(err, &status) && status.Status().Details != nil && status.Status().Details.Kind == "namespaces":
		ns := status.Status().Details.Name
		return wrapAs(err, "%snamespace %q does not exist (create it: kubectl create namespace %s)", what, ns, ns)
	case apierrors.IsNotFound(err) && errors.As(err, &status) && status.Status().Details == nil:
		// A 404 without details is the API path itself: the CRD is missing.
		return wrapAs(err, "%sKubeVirt is not installed (the API server does not serve %s)", what, kind)
	case isUnreachable(err):
		return wrapAs(err, "%scannot reach the Kubernetes API server: %s", what, oneLine(err.Error()))
	}
	return wrapAs(err, "%s%s", what, oneLine(err.Error()))
}

// lineError is one clear line about an error from the API server; the
// original stays reachable with errors.Is/As.
type lineError struct {
	msg string
	err error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.err }

func wrapAs(err error, format string, a ...any) error {
	return &lineError{msg: fmt.Sprintf(format, a...), err: err}
}

// statusMessage is the API server's message without the repeated prefix.
func statusMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return oneLine(status.Status().Message)
	}
	return oneLine(err.Error())
}

// invalidCauses lists each rejected field with the reason.
func invalidCauses(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil || len(status.Status().Details.Causes) == 0 {
		return statusMessage(err)
	}
	var parts []string
	for _, c := range status.Status().Details.Causes {
		m := oneLine(c.Message)
		if c.Field != "" && !strings.Contains(m, c.Field) {
			m = c.Field + ": " + m
		}
		parts = append(parts, m)
	}
	return strings.Join(parts, "; ")
}

func isUnreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &oe)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func schemaGroupResource(groupVersion, resource string) schema.GroupResource {
	gv, _ := schema.ParseGroupVersion(groupVersion)
	return schema.GroupResource{Group: gv.Group, Resource: resource}
}
