package vcsim

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/vim25/types"
)

// clusterRules turns on vSphere HA in the cluster (DRS is on already) and
// binds every hostRule VM to host DC0_C0_H0 with a mandatory VM-host rule.
func (v *Simulator) clusterRules(ctx context.Context, inv *simInventory) error {
	var vms []types.ManagedObjectReference
	for _, sv := range v.VMs {
		if sv.Has("hostRule") {
			vms = append(vms, types.ManagedObjectReference{Type: "VirtualMachine", Value: sv.MoRef})
		}
	}
	host, err := inv.cluster.Hosts(ctx)
	if err != nil || len(host) == 0 {
		return fmt.Errorf("vsphere simulator: cluster hosts: %v", err)
	}
	spec := &types.ClusterConfigSpecEx{
		DasConfig: &types.ClusterDasConfigInfo{Enabled: types.NewBool(true)},
		GroupSpec: []types.ClusterGroupSpec{
			{ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
				Info: &types.ClusterVmGroup{ClusterGroupInfo: types.ClusterGroupInfo{Name: "pinned-vms"}, Vm: vms}},
			{ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
				Info: &types.ClusterHostGroup{ClusterGroupInfo: types.ClusterGroupInfo{Name: "gpu-hosts"}, Host: []types.ManagedObjectReference{host[0].Reference()}}},
		},
		RulesSpec: []types.ClusterRuleSpec{{ArrayUpdateSpec: types.ArrayUpdateSpec{Operation: types.ArrayUpdateOperationAdd},
			Info: &types.ClusterVmHostRuleInfo{ClusterRuleInfo: types.ClusterRuleInfo{Name: "pin-to-gpu-host", Enabled: types.NewBool(true), Mandatory: types.NewBool(true)},
				VmGroupName: "pinned-vms", AffineHostGroupName: "gpu-hosts"}}},
	}
	task, err := inv.cluster.Reconfigure(ctx, spec, true)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("vsphere simulator: cluster rules: %w", err)
	}
	return nil
}
