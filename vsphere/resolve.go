package vsphere

import (
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// resolver answers name and path questions from one collected pass.
type resolver struct {
	col       *collector
	paths     map[types.ManagedObjectReference]string
	portgroup map[string]string // distributed port group key -> name
	vmHosts   map[types.ManagedObjectReference][]string
}

func newResolver(col *collector) *resolver {
	r := &resolver{col: col, paths: map[types.ManagedObjectReference]string{}, portgroup: map[string]string{}}
	for ref, o := range col.objects {
		if ref.Type == "DistributedVirtualPortgroup" {
			r.portgroup[o.key] = o.name
			r.portgroup[ref.Value] = o.name
		}
	}
	r.vmHosts = r.hostRules()
	return r
}

// name returns the name of an object, or its moref when unknown.
func (r *resolver) name(ref *types.ManagedObjectReference) string {
	if ref == nil {
		return ""
	}
	if o, ok := r.col.objects[*ref]; ok {
		return o.name
	}
	return ref.Value
}

// path returns the inventory path of an object, e.g. /DC0/vm/apps. The
// root folder is "/" and is left out of its children's paths.
func (r *resolver) path(ref *types.ManagedObjectReference) string {
	if ref == nil {
		return ""
	}
	if p, ok := r.paths[*ref]; ok {
		return p
	}
	o, ok := r.col.objects[*ref]
	if !ok {
		return ""
	}
	var p string
	switch {
	case o.parent == nil:
		p = "" // the root folder
	default:
		p = r.path(o.parent) + "/" + escapeName(o.name)
	}
	r.paths[*ref] = p
	return p
}

// escapeName escapes "/" in a name as vSphere inventory paths do.
func escapeName(s string) string { return strings.ReplaceAll(s, "/", "%2f") }

// ancestor returns the first ancestor of ref (ref included) of the given type.
func (r *resolver) ancestor(ref *types.ManagedObjectReference, kinds ...string) *types.ManagedObjectReference {
	for ref != nil {
		for _, k := range kinds {
			if ref.Type == k {
				return ref
			}
		}
		o, ok := r.col.objects[*ref]
		if !ok {
			return nil
		}
		ref = o.parent
	}
	return nil
}

// cluster returns the cluster a host belongs to, or nil for a standalone host.
func (r *resolver) cluster(host *types.ManagedObjectReference) *types.ManagedObjectReference {
	if host == nil {
		return nil
	}
	o, ok := r.col.objects[*host]
	if !ok || o.parent == nil || o.parent.Type != "ClusterComputeResource" {
		return nil
	}
	return o.parent
}

// hostRules maps each VM named in a VM-host DRS rule to the hosts it binds
// the VM to.
func (r *resolver) hostRules() map[types.ManagedObjectReference][]string {
	out := map[types.ManagedObjectReference][]string{}
	for _, o := range r.col.objects {
		cx := o.clusterx
		if cx == nil {
			continue
		}
		vmGroups := map[string][]types.ManagedObjectReference{}
		hostGroups := map[string][]types.ManagedObjectReference{}
		for _, g := range cx.Group {
			switch g := g.(type) {
			case *types.ClusterVmGroup:
				vmGroups[g.Name] = g.Vm
			case *types.ClusterHostGroup:
				hostGroups[g.Name] = g.Host
			}
		}
		for _, rule := range cx.Rule {
			hr, ok := rule.(*types.ClusterVmHostRuleInfo)
			if !ok || (hr.Enabled != nil && !*hr.Enabled) || hr.AffineHostGroupName == "" {
				continue
			}
			for _, vm := range vmGroups[hr.VmGroupName] {
				for _, h := range hostGroups[hr.AffineHostGroupName] {
					h := h
					out[vm] = append(out[vm], r.name(&h))
				}
			}
		}
	}
	return out
}
