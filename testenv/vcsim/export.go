package vcsim

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// govmomi's simulator (v0.56) does not implement ExportVm, the call with
// which vSphere clients (Forklift, virt-v2v, ovftool) read a powered-off
// VM's disks through an NFC lease. exporter adds it from outside the
// simulator, for tests: an ExportVm SOAP request is answered with an
// HttpNfcLease object (registered in the simulator, so the property
// collector and HttpNfcLeaseComplete/Progress work as usual) whose device
// URLs serve each disk as a streamOptimized VMDK, front to back and
// without range support, as vSphere's NFC does. The conversion to
// streamOptimized is done with qemu-img when a disk is first read.
type exporter struct {
	v      *Simulator
	prefix string // URL path prefix of the NFC downloads
	seq    atomic.Int64
	mu     sync.Mutex
	leases map[string]*exportLease
	cache  map[string]string // local disk and the state of its folder's disk files -> its streamOptimized copy
}

// exportLease is an HttpNfcLease over a VM's disks.
type exportLease struct {
	mo.HttpNfcLease
	files map[string]string // device file name -> local disk file
}

var exportVmRE = regexp.MustCompile(`<ExportVm[ >][\s\S]*?<_this[^>]*>([^<]+)</_this>`)

func newExporter(v *Simulator) *exporter {
	return &exporter{v: v, prefix: "/podvm-nfc/", leases: map[string]*exportLease{}, cache: map[string]string{}}
}

// serve handles ExportVm calls and NFC downloads; it reports false for
// every other request, which the simulator then serves. The request body
// is kept intact for the simulator.
func (e *exporter) serve(w http.ResponseWriter, r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, e.prefix) {
		e.download(w, r)
		return true
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/sdk") {
		return false
	}
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	m := exportVmRE.FindSubmatch(body)
	if m == nil {
		return false
	}
	ref, err := e.exportVM(string(m[1]))
	if err != nil {
		writeSOAPFault(w, err)
		return true
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`+
		`<soapenv:Body><ExportVmResponse xmlns="urn:vim25"><returnval type="HttpNfcLease">%s</returnval></ExportVmResponse></soapenv:Body></soapenv:Envelope>`, ref.Value)
	return true
}

// exportVM creates a ready lease over the disks of VM moref.
func (e *exporter) exportVM(moref string) (types.ManagedObjectReference, error) {
	ctx := e.v.model.Service.Context
	obj := ctx.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: moref})
	vm, ok := obj.(*simulator.VirtualMachine)
	if !ok {
		return types.ManagedObjectReference{}, fmt.Errorf("ExportVm: no VirtualMachine %s", moref)
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		return types.ManagedObjectReference{}, fmt.Errorf("ExportVm: %s is %s; vSphere exports powered-off VMs only", vm.Name, vm.Runtime.PowerState)
	}
	id := fmt.Sprintf("podvm-lease-%d", e.seq.Add(1))
	lease := &exportLease{files: map[string]string{}}
	lease.Self = types.ManagedObjectReference{Type: "HttpNfcLease", Value: id}
	var urls []types.HttpNfcLeaseDeviceUrl
	for _, d := range vm.Config.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		backing, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		dsPath := backing.GetVirtualDeviceFileBackingInfo().FileName
		local, err := e.v.LocalPath(dsPath)
		if err != nil {
			return types.ManagedObjectReference{}, fmt.Errorf("ExportVm %s: %w", vm.Name, err)
		}
		name := path.Base(strings.TrimSpace(dsPath[strings.Index(dsPath, "]")+1:]))
		lease.files[name] = local
		u := *e.v.URL
		u.Path = e.prefix + id + "/" + name
		urls = append(urls, types.HttpNfcLeaseDeviceUrl{Key: fmt.Sprintf("/%s/%d", moref, disk.Key), ImportKey: fmt.Sprintf("/%s/%d", vm.Name, disk.Key),
			Url: u.String(), Disk: types.NewBool(true), TargetId: name})
	}
	lease.State = types.HttpNfcLeaseStateReady
	lease.InitializeProgress = 100
	lease.Mode = string(types.HttpNfcLeaseModePull)
	lease.Capabilities = types.HttpNfcLeaseCapabilities{PullModeSupported: true}
	lease.Info = &types.HttpNfcLeaseInfo{Lease: lease.Self, Entity: vm.Self, DeviceUrl: urls, LeaseTimeout: 300}
	ctx.Map.Put(lease)
	e.mu.Lock()
	e.leases[id] = lease
	e.mu.Unlock()
	return lease.Self, nil
}

// download serves one disk of a lease as a streamOptimized VMDK, whole.
func (e *exporter) download(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, e.prefix), "/")
	if len(parts) != 2 || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	e.mu.Lock()
	lease := e.leases[parts[0]]
	e.mu.Unlock()
	if lease == nil || lease.files[parts[1]] == "" {
		http.NotFound(w, r)
		return
	}
	stream, err := e.streamOptimized(r.Context(), lease.files[parts[1]])
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f, err := os.Open(stream)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Accept-Ranges", "none") // NFC streams a disk front to back
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f)
}

// streamOptimized converts a disk once into the format NFC serves.
func (e *exporter) streamOptimized(ctx context.Context, local string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	// A disk written since (a snapshot merged, a guest that ran) is
	// converted again: the key holds the size and modification time of
	// every file of its chain that the folder holds.
	key := local
	if ents, err := os.ReadDir(filepath.Dir(local)); err == nil {
		for _, ent := range ents {
			if fi, err := ent.Info(); err == nil && strings.HasSuffix(ent.Name(), ".vmdk") {
				key += fmt.Sprintf("|%s:%d:%d", ent.Name(), fi.Size(), fi.ModTime().UnixNano())
			}
		}
	}
	if s, ok := e.cache[key]; ok {
		return s, nil
	}
	dst := filepath.Join(e.v.dir, "nfc", fmt.Sprintf("%d.vmdk", len(e.cache)))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", local, dst).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("NFC export of %s: qemu-img: %v: %s", local, err, out)
	}
	e.cache[key] = dst
	return dst, nil
}

// HttpNfcLeaseProgress accepts the client's progress.
func (l *exportLease) HttpNfcLeaseProgress(ctx *simulator.Context, req *types.HttpNfcLeaseProgress) soap.HasFault {
	l.TransferProgress = req.Percent
	return &methods.HttpNfcLeaseProgressBody{Res: new(types.HttpNfcLeaseProgressResponse)}
}

// HttpNfcLeaseComplete ends the lease.
func (l *exportLease) HttpNfcLeaseComplete(ctx *simulator.Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	l.State = types.HttpNfcLeaseStateDone
	return &methods.HttpNfcLeaseCompleteBody{Res: new(types.HttpNfcLeaseCompleteResponse)}
}

// HttpNfcLeaseAbort ends the lease with an error.
func (l *exportLease) HttpNfcLeaseAbort(ctx *simulator.Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	l.State = types.HttpNfcLeaseStateError
	return &methods.HttpNfcLeaseAbortBody{Res: new(types.HttpNfcLeaseAbortResponse)}
}

func writeSOAPFault(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	var msg bytes.Buffer
	_ = xmlEscape(&msg, err.Error())
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault>`+
		`<faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`, msg.String())
}

func xmlEscape(w io.Writer, s string) error {
	return xml.EscapeText(w, []byte(s))
}
