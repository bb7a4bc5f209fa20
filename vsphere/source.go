package vsphere

import (
	"context"
	"strings"

	"github.com/vmware/govmomi/vim25/mo"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// Source discovers the VMs of one vCenter or ESXi endpoint.
type Source struct {
	Config Config
	// RoundTrips is set after Discover: the HTTP requests it made.
	RoundTrips int64
}

var _ discover.Source = (*Source)(nil)

// NewSource returns a source for the endpoint of cfg.
func NewSource(cfg Config) *Source { return &Source{Config: cfg} }

// String names the endpoint without credentials.
func (s *Source) String() string {
	if u, _, err := s.Config.Endpoint(); err == nil {
		return u.String()
	}
	return redactURL(s.Config.URL)
}

// Discover logs in, reads the whole inventory in one paged pass and
// returns the VMs that pass the filter.
func (s *Source) Discover(ctx context.Context, opts discover.Options) ([]discover.VM, error) {
	if err := opts.Filter.Validate(); err != nil {
		return nil, err
	}
	conn, err := Connect(ctx, s.Config)
	if err != nil {
		return nil, err
	}
	defer func() {
		conn.Logout(context.WithoutCancel(ctx))
		s.RoundTrips = conn.RoundTrips()
	}()
	return DiscoverConn(ctx, conn, opts)
}

// DiscoverConn discovers over an existing connection.
func DiscoverConn(ctx context.Context, conn *Conn, opts discover.Options) ([]discover.VM, error) {
	f := opts.Filter
	folder := strings.TrimSuffix(f.Folder, "/")
	var (
		vms  []discover.VM
		done int
	)
	err := retrieve(ctx, conn, conn.Client.ServiceContent.RootFolder, func(r *resolver, total int, page []mo.VirtualMachine) error {
		for i := range page {
			mvm := &page[i]
			if !f.MatchName(mvm.Name) {
				continue
			}
			if f.PowerState != "" && discover.PowerState(mvm.Runtime.PowerState) != f.PowerState {
				continue
			}
			vm := r.toVM(mvm, conn.Endpoint)
			if f.Datacenter != "" && vm.Identity.Datacenter != f.Datacenter {
				continue
			}
			if folder != "" && vm.Identity.Folder != folder && !strings.HasPrefix(vm.Identity.Folder, folder+"/") {
				continue
			}
			vms = append(vms, vm)
		}
		done += len(page)
		if opts.Progress != nil {
			opts.Progress(done, max(total, done))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if vms == nil {
		vms = []discover.VM{}
	}
	return vms, nil
}
