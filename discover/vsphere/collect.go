package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vmProperties are the only VirtualMachine properties discovery reads.
var vmProperties = []string{
	"name", "parent", "parentVApp", "resourcePool",
	"runtime.host", "runtime.powerState", "runtime.connectionState", "runtime.consolidationNeeded", "runtime.faultToleranceState",
	"config.instanceUuid", "config.uuid", "config.template", "config.guestId", "config.guestFullName", "config.version",
	"config.firmware", "config.bootOptions", "config.hardware.numCPU", "config.hardware.numCoresPerSocket",
	"config.hardware.memoryMB", "config.hardware.device", "config.cpuHotAddEnabled", "config.memoryHotAddEnabled",
	"config.changeTrackingEnabled", "config.cpuAffinity", "config.files.vmPathName", "config.extraConfig",
	"guest",
	"snapshot",
}

// inventoryProperties are read from every other object in the same pass,
// so names, paths, datastores and networks resolve by moref locally.
var inventoryProperties = map[string][]string{
	"Folder":                      {"name", "parent"},
	"Datacenter":                  {"name", "parent"},
	"ComputeResource":             {"name", "parent"},
	"ClusterComputeResource":      {"name", "parent", "configurationEx"},
	"HostSystem":                  {"name", "parent"},
	"ResourcePool":                {"name", "parent"},
	"VirtualApp":                  {"name", "parent"},
	"Datastore":                   {"name"},
	"Network":                     {"name"},
	"OpaqueNetwork":               {"name"},
	"DistributedVirtualPortgroup": {"name", "key"},
}

// pageSize is how many objects one RetrievePropertiesEx page holds: big
// pages mean few round trips, bounded ones keep memory flat.
const pageSize = 1000

// collector accumulates one retrieval: the VMs as they arrive page by
// page and every other object's name and parent.
type collector struct {
	vms     []mo.VirtualMachine
	objects map[types.ManagedObjectReference]*invObject
	total   int // VMs in the view
}

// invObject is a non-VM inventory object.
type invObject struct {
	name     string
	parent   *types.ManagedObjectReference
	key      string                     // distributed port group key
	clusterx *types.ClusterConfigInfoEx // ClusterComputeResource configuration
}

// retrieve reads the whole inventory under root with one ContainerView and
// paged RetrievePropertiesEx calls: a handful of round trips for any
// number of VMs. page is called after every page with the VMs so far.
func retrieve(ctx context.Context, conn *Conn, root types.ManagedObjectReference, page func(done, total int)) (*collector, error) {
	c := conn.Client
	kinds := []string{"VirtualMachine"}
	for k := range inventoryProperties {
		kinds = append(kinds, k)
	}
	cv, err := view.NewManager(c).CreateContainerView(ctx, root, kinds, true)
	if err != nil {
		return nil, fmt.Errorf("vsphere: container view: %w", err)
	}
	defer cv.Destroy(context.WithoutCancel(ctx))

	props := []types.PropertySpec{{Type: "VirtualMachine", PathSet: vmProperties}, {Type: "ContainerView", PathSet: []string{"view"}}}
	for k, p := range inventoryProperties {
		props = append(props, types.PropertySpec{Type: k, PathSet: p})
	}
	spec := types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{
			Obj:       cv.Reference(),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}},
		}},
		PropSet: props,
	}
	// The parent chain of the root itself (when not the root folder) is
	// not in the view; resolve it with the same filter.
	spec.ObjectSet = append(spec.ObjectSet, types.ObjectSpec{Obj: root, Skip: types.NewBool(false)})
	pc := c.ServiceContent.PropertyCollector
	col := &collector{objects: map[types.ManagedObjectReference]*invObject{}}
	res, err := methods.RetrievePropertiesEx(ctx, c, &types.RetrievePropertiesEx{This: pc, SpecSet: []types.PropertyFilterSpec{spec},
		Options: types.RetrieveOptions{MaxObjects: pageSize}})
	if err != nil {
		return nil, fmt.Errorf("vsphere: retrieve properties: %w", err)
	}
	result := res.Returnval
	for result != nil {
		if err := col.add(result.Objects); err != nil {
			return nil, err
		}
		if page != nil {
			page(len(col.vms), col.total)
		}
		if result.Token == "" {
			break
		}
		next, err := methods.ContinueRetrievePropertiesEx(ctx, c, &types.ContinueRetrievePropertiesEx{This: pc, Token: result.Token})
		if err != nil {
			return nil, fmt.Errorf("vsphere: retrieve properties (next page): %w", err)
		}
		result = &next.Returnval
	}
	return col, nil
}

// add decodes one page of results.
func (col *collector) add(contents []types.ObjectContent) error {
	for _, oc := range contents {
		switch oc.Obj.Type {
		case "VirtualMachine":
			var vm mo.VirtualMachine
			if err := mo.LoadObjectContent([]types.ObjectContent{oc}, &vm); err != nil {
				return fmt.Errorf("vsphere: decode %s: %w", oc.Obj.Value, err)
			}
			col.vms = append(col.vms, vm)
		case "ContainerView":
			for _, p := range oc.PropSet {
				if refs, ok := p.Val.(types.ArrayOfManagedObjectReference); ok {
					for _, r := range refs.ManagedObjectReference {
						if r.Type == "VirtualMachine" {
							col.total++
						}
					}
				}
			}
		default:
			o := &invObject{}
			for _, p := range oc.PropSet {
				switch v := p.Val.(type) {
				case string:
					if p.Name == "name" {
						o.name = v
					} else if p.Name == "key" {
						o.key = v
					}
				case types.ManagedObjectReference:
					if p.Name == "parent" {
						ref := v
						o.parent = &ref
					}
				case types.ClusterConfigInfoEx:
					o.clusterx = &v
				}
			}
			col.objects[oc.Obj] = o
		}
	}
	return nil
}
