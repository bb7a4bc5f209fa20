// Package node is the Kubernetes node agent: it registers this host as a
// Node (through virtual-kubelet's nodeutil, which owns the Node object,
// its lease and the kubelet HTTP API) and runs the pods bound to it whose
// one container's image is a pod VM image as pod VMs on the included
// runtime. The agent is a provider over package runtime, nothing more:
// images are pulled and booted by runtime, and the pod's status is read
// back from runtime's pod VM records and the serial console.
package node
