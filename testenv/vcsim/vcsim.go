// Package vcsim serves govmomi's vCenter simulator for the discovery,
// export and migration tests and the demo: an inventory of VMs with a mix
// of devices whose disks are real files in local-folder datastores, over
// HTTPS with a self-signed certificate, plus an ExportVm NFC lease that the
// simulator lacks. Everything runs in-process; serving NFC exports needs
// qemu-img (make deps).
//
// # Snapshots and changed block tracking
//
// govmomi v0.56's simulator records snapshots without delta disks and has
// no QueryChangedDiskAreas. Once Start returns, this package adds them, as
// vCenter behaves, for the persistent, unshared, file-backed disks of every
// VM (independent disks, RDMs and multi-writer disks are left alone, as
// snapshots leave them alone). A disk's files are a hosted sparse VMDK (the
// test guest) or a descriptor with one flat extent; every delta is hosted
// sparse. A snapshot of a disk in another format (streamOptimized, several
// extents) fails with a FileFault saying so.
//
//   - CreateSnapshot_Task (and CreateSnapshotEx_Task) stuns the VM and
//     writes a delta next to each disk's top file, "<disk>-00000N.vmdk": a
//     monolithicSparse VMDK (64 KiB grains, embedded descriptor with
//     parentFileNameHint and parentCID) that convert and qemu-img read
//     through to the base. The snapshot's config names the file it froze
//     (the old top) with the changeId of that moment; the VM's disk
//     backing becomes the delta (fileName the delta, parent the old
//     backing, deltaDiskFormat redoLogFormat); the capacity is unchanged.
//   - RemoveSnapshot_Task (removeChildren too) and RemoveAllSnapshots_Task
//     stun the VM, merge each removed snapshot's delta into its parent
//     (grain by grain; the file above it, if any, gets the parent as its
//     parentFileNameHint), delete the delta and fix the backings of the VM
//     and of the other snapshots. RevertToSnapshot is the simulator's
//     (metadata only). Snapshots taken while Start builds the inventory
//     (the "snapshots" VMs') have no deltas.
//   - Change tracking: with config.changeTrackingEnabled (ReconfigVM_Task
//     spec.changeTrackingEnabled, or Options.CBT for every VM) each disk
//     gets backing.changeId "<uuid>/<seq>" at the next stun (a snapshot
//     created or removed, a power state change), and seq grows by one at
//     every stun after that. uuid is ESXi's form, "52 xx … xx-xx … xx".
//     Turning tracking off clears every changeId; growing a disk (only a
//     flat disk without snapshots can grow) starts a new uuid. Either
//     makes older changeIds invalid.
//   - QueryChangedDiskAreas(vm, snapshot, deviceKey, startOffset, changeId)
//     returns the 64 KiB blocks (merged into areas) written after changeId
//     up to the snapshot; changeId "*" returns the blocks the frozen chain
//     holds (allocated grains; a flat extent's data regions). Without a
//     snapshot it answers for the current disk of a powered-off VM. An
//     answer holds at most Options.ChangedAreasPage areas
//     (DefaultChangedAreasPage); its startOffset is the request's and its
//     length reaches to the end of its last area when the page is full,
//     else to the end of the disk, so a client loops with
//     startOffset = startOffset+length until it reaches the capacity.
//     Faults: FileFault (naming the disk file) when tracking is off for
//     the VM or disk, for a changeId of another uuid (reset) or newer than
//     the snapshot, and for a snapshot without deltas; InvalidArgument
//     (invalidProperty deviceKey, startOffset, changeId or snapshot) for
//     an unknown disk, an offset outside the disk, a malformed changeId,
//     another VM's snapshot, or no snapshot on a running VM.
//   - The guest: GuestWrite writes as a running guest, and Options.Churn
//     makes every powered-on VM write random 64 KiB blocks (aligned) at a
//     rate, spread over its disks in turn, into the guest's free space:
//     the blocks that held no data when the churn began on that disk, so
//     the guest's files stay intact and a migrated guest still boots
//     (a disk with no free block is not churned). Writes go to the top file of
//     the chain: a grain the top file lacks is allocated at its end (a
//     partial grain filled from the files below) and its grain table
//     entries (both directories) point at it, so the chain stays a valid
//     VMDK for convert and qemu-img; a flat extent is written in place.
//     A guest shutdown, power off or suspend stops the churn. A base file
//     that is hard-linked (the shared test guest) is copied before its
//     first write, so only this VM's disk changes.
package vcsim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Options says what Start builds.
type Options struct {
	VMs       int    // number of VMs; default 20
	Listen    string // host:port to serve on; default 127.0.0.1:0 (a free port)
	Dir       string // working folder for the datastores and the certificate; default a temporary folder that Close removes
	GuestVMDK string // a real VMDK (e.g. testguest.Build's guest.vmdk) hard-linked (else copied) as every VM's first disk; empty: a generated flat VMDK
	Username  string // default "podvm"
	Password  string // default random; set it to test a wrong password
	Parallel  int    // VMs created at once; default 8
	Log       func(format string, args ...any)

	// CBT turns changed block tracking on for every VM (not only the
	// "cbt" ones): when Start returns, every persistent disk has a changeId.
	CBT bool
	// Churn is the rate, in bytes per second, at which every powered-on
	// VM writes random 64 KiB blocks into the top files of its disk
	// chains, standing in for a busy guest; 0: the guests are idle.
	Churn int64
	// ChangedAreasPage is the most areas one QueryChangedDiskAreas answer
	// holds; default DefaultChangedAreasPage.
	ChangedAreasPage int
}

// Simulator is a running vCenter simulator (govmomi's vcsim, in-process)
// whose VMs have real disk files in local-folder datastores. Every client
// must trust CACertFile (or pin Thumbprint): the certificate is
// self-signed and valid for 127.0.0.1, ::1, localhost and the listen host.
type Simulator struct {
	URL        *url.URL          // https://host:port/sdk, without credentials
	Username   string            // the one user the simulator accepts
	Password   string            // its password
	CACertFile string            // PEM of the server certificate, for GOVC_TLS_CA_CERTS
	Thumbprint string            // SHA-1 thumbprint of the certificate, AA:BB:… (what govc pins)
	SHA256     string            // SHA-256 thumbprint, AA:BB:…
	Datacenter string            // "DC0"
	Datastores map[string]string // datastore name -> the local folder behind it
	VMs        []VM              // every VM created, in creation order

	model    *simulator.Model
	server   *simulator.Server
	cbt      *cbtDouble
	cbtAll   bool
	stop     context.CancelFunc // ends the churn
	churned  sync.WaitGroup
	dir      string
	ownDir   bool
	requests atomic.Int64
}

// VM describes one simulated VM and the devices it was given, so tests
// can check what discovery reports.
type VM struct {
	Name          string   `json:"name"`
	MoRef         string   `json:"moref"`
	InventoryPath string   `json:"inventoryPath"`
	Folder        string   `json:"folder"`
	PowerState    string   `json:"powerState"`
	Disks         []string `json:"disks"` // datastore paths, e.g. "[datastore1] app-0001/app-0001.vmdk"
	Features      []string `json:"features"`
}

// Has reports whether the VM was given a feature (see vmFeatures).
func (v VM) Has(feature string) bool {
	for _, f := range v.Features {
		if f == feature {
			return true
		}
	}
	return false
}

// Start builds a vCenter inventory (datacenter DC0, cluster DC0_C0
// with two hosts and a standalone host, datastores datastore1 and
// datastore2 on every host, the "VM Network" and a distributed port group,
// folders apps, apps/web and db) with o.VMs VMs carrying a mix of devices,
// and serves it over HTTPS. Close stops it.
func Start(ctx context.Context, o Options) (*Simulator, error) {
	if o.VMs == 0 {
		o.VMs = 20
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Username == "" {
		o.Username = "podvm"
	}
	if o.Password == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("vsphere simulator: %w", err)
		}
		o.Password = hex.EncodeToString(b)
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Churn < 0 {
		return nil, fmt.Errorf("vsphere simulator: churn rate %d is negative", o.Churn)
	}
	v := &Simulator{Username: o.Username, Password: o.Password, Datacenter: "DC0", Datastores: map[string]string{}, dir: o.Dir, cbtAll: o.CBT}
	if v.dir == "" {
		d, err := os.MkdirTemp("", "podvm-vsphere-")
		if err != nil {
			return nil, fmt.Errorf("vsphere simulator: %w", err)
		}
		v.dir, v.ownDir = d, true
	} else if err := os.MkdirAll(v.dir, 0o755); err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			v.Close()
		}
	}()
	if err := v.serve(o); err != nil {
		return nil, err
	}
	c, err := v.Client(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Logout(context.WithoutCancel(ctx))
	start := time.Now()
	inv, err := v.buildInfrastructure(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := v.createVMs(ctx, c, inv, o); err != nil {
		return nil, err
	}
	o.Log("created %d VMs in %s", len(v.VMs), time.Since(start).Round(time.Millisecond))
	v.cbt.enable(o.CBT)
	if o.Churn > 0 {
		v.startChurn(o.Churn)
	}
	v.requests.Store(0)
	ok = true
	return v, nil
}

// serve creates the simulator model and starts its HTTPS server with our
// own certificate, counting every request.
func (v *Simulator) serve(o Options) error {
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return fmt.Errorf("vsphere simulator: listen address %q: %w", o.Listen, err)
	}
	v.CACertFile = filepath.Join(v.dir, "vcsim-ca.pem")
	cert, err := selfSignedCert(v.CACertFile, host)
	if err != nil {
		return err
	}
	v.Thumbprint, v.SHA256 = thumbprints(cert.Certificate[0])

	m := simulator.VPX()
	m.Autostart = false
	m.Machine = 0
	m.Datastore = 0
	m.ClusterHost = 2
	m.Host = 1
	m.Portgroup = 1
	if err := m.Create(); err != nil {
		return fmt.Errorf("vsphere simulator: %w", err)
	}
	v.model = m
	v.cbt = newCBTDouble(v, o.ChangedAreasPage, o.Log)
	v.cbt.install(m)
	m.Service.Listen = &url.URL{Host: o.Listen, User: url.UserPassword(o.Username, o.Password)}
	m.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	m.Service.RegisterEndpoints = true
	v.server = m.Service.NewServer()
	// Count every request: the server has not been handed a connection yet.
	inner := v.server.Config.Handler
	export := newExporter(v)
	v.server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.requests.Add(1)
		if export.serve(w, r) { // ExportVm, which the simulator lacks
			return
		}
		inner.ServeHTTP(w, r)
	})
	u := *v.server.URL
	u.User = nil
	if host != "" && host != "0.0.0.0" && host != "::" {
		_, port, _ := net.SplitHostPort(u.Host)
		u.Host = net.JoinHostPort(host, port)
	}
	v.URL = &u
	return nil
}

// Client logs in to the simulator over HTTPS, trusting its certificate.
func (v *Simulator) Client(ctx context.Context) (*govmomi.Client, error) {
	u := *v.URL
	u.User = url.UserPassword(v.Username, v.Password)
	c, err := govmomi.NewClient(ctx, &u, true)
	if err != nil {
		return nil, fmt.Errorf("vsphere simulator: log in: %w", err)
	}
	return c, nil
}

// Env returns the GOVC_* variables (NAME=value) that point govc, or
// podvm-migrate, at the simulator.
func (v *Simulator) Env() []string {
	return []string{
		"GOVC_URL=" + v.URL.String(),
		"GOVC_USERNAME=" + v.Username,
		"GOVC_PASSWORD=" + v.Password,
		"GOVC_TLS_CA_CERTS=" + v.CACertFile,
		"GOVC_DATACENTER=" + v.Datacenter,
	}
}

// Requests returns how many HTTP requests (SOAP round trips, datastore
// and NFC transfers) the simulator has served since Start returned
// or ResetRequests was called.
func (v *Simulator) Requests() int64 { return v.requests.Load() }

// ResetRequests sets the request counter to zero.
func (v *Simulator) ResetRequests() { v.requests.Store(0) }

// LocalPath maps a datastore path such as "[datastore1] app-0001/app-0001.vmdk"
// to the file behind it.
func (v *Simulator) LocalPath(dsPath string) (string, error) {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		return "", fmt.Errorf("vsphere simulator: %q is not a datastore path", dsPath)
	}
	dir, ok := v.Datastores[p.Datastore]
	if !ok {
		return "", fmt.Errorf("vsphere simulator: %q: no datastore %q", dsPath, p.Datastore)
	}
	return filepath.Join(dir, filepath.FromSlash(p.Path)), nil
}

// Model returns the simulator model, for tests that change the inventory
// directly (e.g. to inject faults).
func (v *Simulator) Model() *simulator.Model { return v.model }

// Close stops the server and removes the simulator's files (and Dir
// when Start created it).
func (v *Simulator) Close() {
	if v.stop != nil {
		v.stop()
		v.churned.Wait()
		v.stop = nil
	}
	if v.cbt != nil {
		v.cbt.close()
	}
	if v.server != nil {
		v.server.Close()
		v.server = nil
	}
	if v.model != nil {
		v.model.Remove()
		v.model = nil
	}
	if v.ownDir && v.dir != "" {
		os.RemoveAll(v.dir)
		v.dir = ""
	}
}

// simInventory holds the objects VMs are created in.
type simInventory struct {
	dc         *object.Datacenter
	folders    map[string]*object.Folder // "" (the vm folder), apps, apps/web, db
	cluster    *object.ClusterComputeResource
	clusterRP  *object.ResourcePool
	hostRP     *object.ResourcePool
	host       *object.HostSystem // the standalone host
	stdNet     types.BaseVirtualDeviceBackingInfo
	dvpg       types.BaseVirtualDeviceBackingInfo
	dvpgName   string
	datastores map[string]types.ManagedObjectReference
}

// buildInfrastructure adds the datastores (a local folder each, mounted on
// every host) and the VM folders, and finds the networks and pools.
func (v *Simulator) buildInfrastructure(ctx context.Context, c *govmomi.Client) (*simInventory, error) {
	inv := &simInventory{folders: map[string]*object.Folder{}, datastores: map[string]types.ManagedObjectReference{}}
	f := find.NewFinder(c.Client, false)
	dc, err := f.Datacenter(ctx, v.Datacenter)
	if err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	inv.dc = dc
	f.SetDatacenter(dc)
	hosts, err := f.HostSystemList(ctx, "*/*")
	if err != nil {
		return nil, fmt.Errorf("vsphere simulator: hosts: %w", err)
	}
	for _, name := range []string{"datastore1", "datastore2"} {
		dir := filepath.Join(v.dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("vsphere simulator: %w", err)
		}
		for _, h := range hosts {
			dss, err := h.ConfigManager().DatastoreSystem(ctx)
			if err != nil {
				return nil, fmt.Errorf("vsphere simulator: %s: %w", h.InventoryPath, err)
			}
			ds, err := dss.CreateLocalDatastore(ctx, name, dir)
			if err != nil {
				return nil, fmt.Errorf("vsphere simulator: datastore %s on %s: %w", name, h.InventoryPath, err)
			}
			inv.datastores[name] = ds.Reference()
		}
		v.Datastores[name] = dir
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	inv.folders[""] = folders.VmFolder
	for _, p := range []string{"apps", "apps/web", "db"} {
		parent := inv.folders[filepath.Dir(p)]
		if filepath.Dir(p) == "." {
			parent = folders.VmFolder
		}
		fo, err := parent.CreateFolder(ctx, filepath.Base(p))
		if err != nil {
			return nil, fmt.Errorf("vsphere simulator: folder %s: %w", p, err)
		}
		inv.folders[p] = fo
	}
	cluster, err := f.ClusterComputeResource(ctx, "DC0_C0")
	if err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	inv.cluster = cluster
	if inv.clusterRP, err = cluster.ResourcePool(ctx); err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	if inv.host, err = f.HostSystem(ctx, "DC0_H0"); err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	if inv.hostRP, err = inv.host.ResourcePool(ctx); err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	netw, err := f.Network(ctx, "VM Network")
	if err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	if inv.stdNet, err = netw.EthernetCardBackingInfo(ctx); err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	inv.dvpgName = "DC0_DVPG0"
	pg, err := f.Network(ctx, inv.dvpgName)
	if err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	if inv.dvpg, err = pg.EthernetCardBackingInfo(ctx); err != nil {
		return nil, fmt.Errorf("vsphere simulator: %w", err)
	}
	return inv, nil
}

// vmName names VM i after the folder it goes in.
func vmName(i int) (name, folder string) {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("vm-%04d", i), ""
	case 1:
		return fmt.Sprintf("app-%04d", i), "apps"
	case 2:
		return fmt.Sprintf("web-%04d", i), "apps/web"
	default:
		return fmt.Sprintf("db-%04d", i), "db"
	}
}

// inventoryPath is the path of a VM in folder (relative to the vm folder).
func (v *Simulator) inventoryPath(folder, name string) string {
	return strings.TrimSuffix("/"+v.Datacenter+"/vm/"+folder, "/") + "/" + name
}
