package vcsim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// churnTick is how often the churn writes its share of blocks.
const churnTick = 50 * time.Millisecond

// GuestWrite writes p at byte offset off of the disk with device key
// deviceKey of VM vm (its name or moref), as its running guest would: into
// the top file of the disk's chain, recorded by change tracking. The VM
// must be powered on.
func (v *Simulator) GuestWrite(vm string, deviceKey int32, off int64, p []byte) error {
	moref := vm
	for _, sv := range v.VMs {
		if sv.Name == vm {
			moref = sv.MoRef
		}
	}
	return v.cbt.guestWrite(moref, deviceKey, off, p)
}

// startChurn makes every powered-on VM write random 64 KiB blocks at rate
// bytes per second (spread over its disks in turn) until Close.
func (v *Simulator) startChurn(rate int64) {
	ctx, cancel := context.WithCancel(context.Background())
	v.stop = cancel
	v.churned.Add(1)
	go func() {
		defer v.churned.Done()
		v.churn(ctx, rate)
	}()
}

func (v *Simulator) churn(ctx context.Context, rate int64) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15))
	buf := make([]byte, cbtBlock)
	budget := map[string]float64{} // VM moref -> bytes owed
	turn := map[string]int{}       // VM moref -> next disk
	last := time.Now()
	t := time.NewTicker(churnTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			dt := now.Sub(last).Seconds()
			last = now
			on := v.cbt.poweredOn()
			seen := map[string]bool{}
			for _, ref := range on {
				seen[ref] = true
				disks := v.churnDisks(ref)
				if len(disks) == 0 {
					continue
				}
				budget[ref] += float64(rate) * dt
				for budget[ref] >= cbtBlock && ctx.Err() == nil {
					budget[ref] -= cbtBlock
					td := disks[turn[ref]%len(disks)]
					turn[ref]++
					fillRandom(rng, buf)
					v.churnWrite(ref, td, rng, buf)
				}
			}
			for ref := range budget { // a VM that stopped owes nothing
				if !seen[ref] {
					delete(budget, ref)
				}
			}
		}
	}
}

// churnDisks returns the disks of VM ref that the churn writes.
func (v *Simulator) churnDisks(ref string) []*trackedDisk {
	vm, ok := v.model.Map().Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}).(*simulator.VirtualMachine)
	if !ok {
		return nil
	}
	var disks []*trackedDisk
	v.model.Map().WithLock(&simulator.Context{}, vm, func() { disks = v.cbt.vmDisks(vm) })
	return disks
}

// churnWrite writes one random block; a disk that fails is logged once
// and left alone from then on.
func (v *Simulator) churnWrite(ref string, td *trackedDisk, rng *rand.Rand, buf []byte) {
	td.mu.Lock()
	defer td.mu.Unlock()
	if td.broken != nil || td.capacity < cbtBlock {
		return
	}
	v.cbt.mu.Lock()
	on := v.cbt.power[ref]
	v.cbt.mu.Unlock()
	if !on { // shut down since the tick began
		return
	}
	if td.free == nil {
		// The guest writes into its free space: the blocks that held no
		// data when the churn began, so its files (a boot loader, a
		// kernel) stay intact and it still boots once migrated.
		used, err := td.allocated(len(td.chain))
		if err != nil {
			td.broken = err
			v.cbt.log("vsphere simulator: churn of VM %s disk %d stopped: %v", ref, td.key, err)
			return
		}
		td.free = freeBlocks(used, td.capacity/cbtBlock)
	}
	if len(td.free) == 0 {
		td.broken = fmt.Errorf("no free space: every block holds data")
		v.cbt.log("vsphere simulator: churn of VM %s disk %d stopped: %v", ref, td.key, td.broken)
		return
	}
	off := td.free[rng.IntN(len(td.free))] * cbtBlock
	if err := td.guestWrite(buf, off); err != nil {
		td.broken = err
		v.cbt.log("vsphere simulator: churn of VM %s disk %d stopped: %v", ref, td.key, err)
	}
}

// freeBlocks lists the blocks below n that are not in the sorted used.
func freeBlocks(used []int64, n int64) []int64 {
	out := make([]int64, 0, n-int64(len(used)))
	for b, i := int64(0), 0; b < n; b++ {
		for i < len(used) && used[i] < b {
			i++
		}
		if i < len(used) && used[i] == b {
			continue
		}
		out = append(out, b)
	}
	return out
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		u := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(u >> (8 * j))
		}
	}
}

var rateRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B?|B)?\s*(?:/s)?\s*$`)

// ParseRate reads a churn rate such as "4MiB/s", "512KiB/s", "1.5MB/s"
// or "65536" (bytes per second; binary and decimal units).
func ParseRate(s string) (int64, error) {
	m := rateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("rate %q: want a number of bytes per second with an optional unit, e.g. 4MiB/s", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %w", s, err)
	}
	unit := strings.TrimSuffix(m[2], "B")
	mult := 1.0
	if unit != "" {
		base := 1000.0
		if strings.HasSuffix(unit, "i") {
			base = 1024
		}
		mult = map[byte]float64{'K': base, 'M': base * base, 'G': base * base * base, 'T': base * base * base * base}[unit[0]]
	}
	return int64(n * mult), nil
}
