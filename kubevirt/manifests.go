package kubevirt

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Manifest is the KubeVirt objects of a set of pod VMs.
type Manifest struct {
	PodVMs []*Objects
	Failed []Skipped // pod VMs that cannot be mapped to KubeVirt, and why
}

// BuildAll makes the objects of every spec. A spec that cannot be mapped
// (e.g. two NICs on the pod network) goes to Failed and the others are
// still built; bad options, duplicate names or no mappable spec at all
// fail the whole call (so a caller with one spec gets its error).
func BuildAll(specs []podvm.Spec, o Options) (*Manifest, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	m := &Manifest{}
	seen := map[string]bool{}
	for i := range specs {
		if seen[specs[i].Name] {
			return nil, fmt.Errorf("kubevirt: pod VM name %q is used twice", specs[i].Name)
		}
		seen[specs[i].Name] = true
		objs, err := Build(&specs[i], o)
		if err != nil {
			m.Failed = append(m.Failed, Skipped{Name: specs[i].Name, Reason: err.Error()})
			continue
		}
		m.PodVMs = append(m.PodVMs, objs)
	}
	if len(m.PodVMs) == 0 && len(m.Failed) > 0 {
		var reasons []string
		for _, f := range m.Failed {
			reasons = append(reasons, f.Reason)
		}
		return nil, errors.New(strings.Join(reasons, "; "))
	}
	return m, nil
}

// Notes are what could not be mapped exactly, for every pod VM.
func (m *Manifest) Notes() []string {
	var notes []string
	for _, p := range m.PodVMs {
		notes = append(notes, p.Notes...)
	}
	return notes
}

// WriteYAML writes every object as a multi-document YAML stream, each pod
// VM's DataVolumes before its VirtualMachine, ready for kubectl apply -f.
func (m *Manifest) WriteYAML(w io.Writer) error {
	first := true
	write := func(obj any) error {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("kubevirt: yaml: %w", err)
		}
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		first = false
		_, err = w.Write(b)
		return err
	}
	for _, p := range m.PodVMs {
		for _, dv := range p.DataVolumes {
			if err := write(dv); err != nil {
				return err
			}
		}
		if err := write(p.VM); err != nil {
			return err
		}
	}
	return nil
}
