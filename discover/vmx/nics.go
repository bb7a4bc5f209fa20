package vmx

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// nicModels maps ethernetN.virtualDev values; a missing value means vlance.
var nicModels = map[string]string{
	"e1000": "e1000", "e1000e": "e1000e", "vmxnet": "vmxnet", "vmxnet2": "vmxnet2", "vmxnet3": "vmxnet3",
	"vlance": "vlance", "pcnet32": "vlance",
}

var ethernetKey = regexp.MustCompile(`^ethernet(\d+)\.present$`)

// nics finds the network adapters.
func nics(d Dict, vm *discover.VM) {
	var idx []int
	for k := range d {
		if m := ethernetKey.FindStringSubmatch(k); m != nil && d.Bool(k, false) {
			idx = append(idx, atoi(m[1]))
		}
	}
	sort.Ints(idx)
	for _, i := range idx {
		p := fmt.Sprintf("ethernet%d.", i)
		n := discover.NIC{Label: fmt.Sprintf("ethernet%d", i), Model: "vlance"}
		if v := strings.ToLower(d.Get(p + "virtualDev")); v != "" {
			n.Model = nicModels[v]
			if n.Model == "" {
				n.Model = "unknown"
			}
		}
		// vmxnet with features set is the enhanced vmxnet, vmxnet2.
		if n.Model == "vmxnet" && d.Get(p+"features") != "" {
			n.Model = "vmxnet2"
		}
		switch strings.ToLower(d.Get(p + "addressType")) {
		case "static":
			n.AddressType, n.MAC = "static", d.Get(p+"address")
		case "vpx":
			n.AddressType, n.MAC = "assigned", d.Get(p+"generatedAddress")
		default:
			n.AddressType, n.MAC = "generated", d.Get(p+"generatedAddress")
		}
		n.MAC = strings.ToLower(n.MAC)
		n.Network = d.Get(p + "networkName")
		if n.Network == "" {
			n.Network = d.Get(p + "connectionType") // bridged, nat, hostonly, custom (Workstation)
			if n.Network == "custom" {
				n.Network = d.Get(p + "vnet")
			}
		}
		n.NetworkID = d.Get(p + "dvs.portgroupId")
		n.StartConnected = d.Bool(p+"startConnected", true)
		vm.Hardware.NICs = append(vm.Hardware.NICs, n)
	}
}
