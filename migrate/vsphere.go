package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
	"github.com/podvm-migrate/podvm-migrate/discover/vsphere"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// maxDescriptor is the most a text VMDK descriptor can reasonably be.
const maxDescriptor = 64 << 10

// VSphereDatastore locates "[datastore] folder/disk.vmdk" sources through
// vSphere's datastore HTTP access (/folder/…): it fetches the disk — and the
// extents and snapshot parents a text descriptor names — into dir, resuming
// a partial file with an HTTP range request and retrying a dropped
// connection, and hands the local copy to the converter. The copy is
// removed once the disk is converted. Other sources go to next.
func VSphereDatastore(conn *vsphere.Conn, dir string, next Locator) Locator {
	v := &dsFetcher{conn: conn, dir: dir, stores: map[string]*object.Datastore{}}
	return func(ctx context.Context, vm *podvm.PlannedVM, d podvm.Disk) (string, func(), error) {
		ds, file, ok := splitDatastorePath(d.Source)
		if !ok {
			return next(ctx, vm, d)
		}
		local, err := v.fetchDisk(ctx, ds, file, 0)
		if err != nil {
			return "", nil, fmt.Errorf("disk %s of %s (%s): %w", d.Name, vm.Name, d.Source, err)
		}
		folder := filepath.Join(v.dir, ds, path.Dir(file))
		return local, func() { os.RemoveAll(folder) }, nil
	}
}

type dsFetcher struct {
	conn   *vsphere.Conn
	dir    string
	mu     sync.Mutex
	stores map[string]*object.Datastore
}

// splitDatastorePath splits "[ds1] vm/vm.vmdk" into "ds1" and "vm/vm.vmdk".
func splitDatastorePath(p string) (string, string, bool) {
	if !strings.HasPrefix(p, "[") {
		return "", "", false
	}
	i := strings.Index(p, "]")
	if i < 2 {
		return "", "", false
	}
	return p[1:i], strings.TrimSpace(p[i+1:]), true
}

// fetchDisk fetches one VMDK file and, for a text descriptor, its extents
// and parent chain (bounded, so a loop cannot run forever).
func (v *dsFetcher) fetchDisk(ctx context.Context, ds, file string, depth int) (string, error) {
	if depth > 32 {
		return "", fmt.Errorf("snapshot chain deeper than 32 at %s", file)
	}
	local, err := v.fetch(ctx, ds, file)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(local)
	if err != nil || st.Size() > maxDescriptor {
		return local, err
	}
	text, err := os.ReadFile(local)
	if err != nil || !strings.Contains(strings.ToLower(string(text)), "disk descriptorfile") {
		return local, err
	}
	desc, err := vmdk.ParseDescriptor(local, 0, text)
	if err != nil {
		return "", err
	}
	for _, e := range desc.Extents {
		if e.File == "" {
			continue
		}
		if _, err := v.fetch(ctx, ds, path.Join(path.Dir(file), e.File)); err != nil {
			return "", err
		}
	}
	if p := desc.ParentFileNameHint; p != "" {
		parent := p
		if !path.IsAbs(p) {
			parent = path.Join(path.Dir(file), p)
		}
		if _, err := v.fetchDisk(ctx, ds, parent, depth+1); err != nil {
			return "", err
		}
	}
	return local, nil
}

// fetch downloads one datastore file to dir/ds/file, resuming and retrying.
func (v *dsFetcher) fetch(ctx context.Context, ds, file string) (string, error) {
	if strings.Contains(file, "..") {
		return "", fmt.Errorf("datastore path %q leaves its datastore", file)
	}
	local := filepath.Join(v.dir, ds, filepath.FromSlash(file))
	if _, err := os.Stat(local); err == nil {
		return local, nil
	}
	store, err := v.datastore(ctx, ds)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return "", err
	}
	u := store.NewURL(file)
	part := local + ".part"
	delay := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err = v.download(ctx, u.String(), part)
		if err == nil {
			break
		}
		if attempt >= 5 || !Transient(err) || ctx.Err() != nil {
			return "", fmt.Errorf("download [%s] %s: %w", ds, file, err)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		delay *= 2
	}
	if err := os.Rename(part, local); err != nil {
		return "", err
	}
	return local, nil
}

// download appends to part from where it ends (HTTP Range), or starts over
// when the server ignores the range.
func (v *dsFetcher) download(ctx context.Context, rawURL, part string) error {
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	u, err := soap.ParseURL(rawURL)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	var copyErr error
	err = v.conn.Client.Client.Do(ctx, req, func(res *http.Response) error {
		switch {
		case res.StatusCode == http.StatusPartialContent:
		case res.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
			return nil // already complete
		case res.StatusCode == http.StatusOK:
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
		case res.StatusCode == http.StatusNotFound:
			return fmt.Errorf("no such file on the datastore (HTTP 404)")
		default:
			return fmt.Errorf("HTTP %s", res.Status)
		}
		_, copyErr = io.Copy(f, res.Body)
		return copyErr
	})
	if err == nil && copyErr == nil {
		return f.Sync()
	}
	return errors.Join(err, copyErr)
}

// datastore finds a datastore by name in any datacenter, once.
func (v *dsFetcher) datastore(ctx context.Context, name string) (*object.Datastore, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ds, ok := v.stores[name]; ok {
		return ds, nil
	}
	finder := find.NewFinder(v.conn.Client, true)
	dcs, err := finder.DatacenterList(ctx, "*")
	if err != nil {
		return nil, fmt.Errorf("datastore %s: %w", name, err)
	}
	for _, dc := range dcs {
		finder.SetDatacenter(dc)
		if ds, err := finder.Datastore(ctx, name); err == nil {
			v.stores[name] = ds
			return ds, nil
		}
	}
	return nil, fmt.Errorf("datastore %s: not found in any datacenter", name)
}

// PowerOffSource returns a Quiesce step that shuts each source VM down in
// vSphere before its disks are read, so the copy is consistent: a guest
// shutdown through VMware Tools first, a hard power-off after grace.
func PowerOffSource(conn *vsphere.Conn, grace time.Duration) func(ctx context.Context, vm *podvm.PlannedVM) (string, error) {
	return func(ctx context.Context, pvm *podvm.PlannedVM) (string, error) {
		if pvm.Spec.Source.Moref == "" {
			return "no vSphere VM", nil
		}
		vm := object.NewVirtualMachine(conn.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: pvm.Spec.Source.Moref})
		state, err := vm.PowerState(ctx)
		if err != nil {
			return "", fmt.Errorf("source VM %s (%s): %w", pvm.Name, pvm.Spec.Source.Moref, err)
		}
		did := "powered off"
		switch state {
		case types.VirtualMachinePowerStatePoweredOff:
			return "already powered off", nil
		case types.VirtualMachinePowerStateSuspended:
			did = "powered off (its suspended state discarded, as the plan warned)"
		default:
			if err := vm.ShutdownGuest(ctx); err == nil {
				wctx, cancel := context.WithTimeout(ctx, grace)
				err = vm.WaitForPowerState(wctx, types.VirtualMachinePowerStatePoweredOff)
				cancel()
				if err == nil {
					return "guest shut down", nil
				}
			}
		}
		task, err := vm.PowerOff(ctx)
		if err != nil {
			return "", fmt.Errorf("power off source VM %s: %w", pvm.Name, err)
		}
		if err := task.Wait(ctx); err != nil {
			return "", fmt.Errorf("power off source VM %s: %w", pvm.Name, err)
		}
		return did, nil
	}
}
