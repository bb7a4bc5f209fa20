package plan

import (
	"fmt"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/podvm"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

// Disk limits of the pod VM's buses: q35's AHCI has six ports; virtio-blk
// disks each take a PCIe slot.
const (
	maxSATADisks   = 6
	maxVirtioDisks = 28
)

func diskRules() []Rule {
	return []Rule{
		{
			ID: "disk-capacity-invalid", Severity: SeverityCritical, Category: "storage",
			Checks:      "a disk reports no size or a size that is not whole 512-byte sectors",
			Remediation: "Refresh the VM in vSphere, or put the disk's descriptor where the .vmx names it (--datastore-dir DS=DIR for ESXi paths) and discover again, so every disk reports its real capacity.",
			check: eachDisk(func(d discover.Disk) string {
				if d.CapacityUnknown {
					return "has an unknown capacity: discovery could not read its descriptor (see the VM's warnings)"
				}
				if d.CapacityBytes <= 0 || d.CapacityBytes%512 != 0 {
					return fmt.Sprintf("capacity %d bytes is not a valid disk size", d.CapacityBytes)
				}
				return ""
			}),
		},
		{
			ID: "datastore-missing", Severity: SeverityCritical, Category: "storage",
			Checks:      "a vSphere disk has no backing file or its datastore is unknown",
			Remediation: "Make the datastore accessible to the host (or re-register the VM) and discover again.",
			check: func(c *checkContext) []hit {
				if c.vm.Source.Kind != discover.SourceVSphere {
					return eachDisk(func(d discover.Disk) string {
						switch {
						case d.Blank:
							return "is blank (the OVF gives it no file): create it empty on the target, it is not copied"
						case d.File == "" && d.RDM == nil && d.Raw == nil:
							if d.SourcePath != "" {
								return fmt.Sprintf("names %q, which is not read on this machine", d.SourcePath)
							}
							return "has no backing file"
						}
						return ""
					})(c)
				}
				return eachDisk(func(d discover.Disk) string {
					if d.RDM == nil && (d.File == "" || d.Datastore == "") {
						return "has no backing file on a known datastore"
					}
					return ""
				})(c)
			},
		},
		{
			ID: "datastore-unmapped", Severity: SeverityCritical, Category: "storage",
			Checks:      "a disk's datastore has no entry in the storage map",
			Remediation: "Add --storage-map DATASTORE=STORAGECLASS (or '*=CLASS') or a storage entry in the mapping file.",
			check: func(c *checkContext) []hit {
				var hits []hit
				seen := map[string]bool{}
				for _, d := range c.vm.Hardware.Disks {
					if d.Datastore == "" || seen[d.Datastore] {
						continue
					}
					seen[d.Datastore] = true
					if _, ok := lookup(c.opts.Mappings.Storage, d.Datastore); !ok {
						hits = append(hits, hit{msg: fmt.Sprintf("datastore %q is not in the storage map", d.Datastore)})
					}
				}
				return hits
			},
		},
		{
			ID: "disk-path-refused", Severity: SeverityCritical, Category: "storage",
			Checks:      "a disk's descriptor names a file outside its own folder (an absolute, ../ or symlinked extent or parentFileNameHint) or a device node, which the copy refuses",
			Remediation: "Fix the descriptor's extent or parentFileNameHint line, or move the file next to it, and discover again; for a real layout such as a linked clone whose base disk sits in another VM's folder, discover and migrate with --allow-path DIR.",
			check: eachDisk(func(d discover.Disk) string {
				if d.Refused != "" {
					return "cannot be copied: " + d.Refused
				}
				return ""
			}),
		},
		{
			ID: "too-many-disks", Severity: SeverityCritical, Category: "storage",
			Checks:      "the VM has more disks than the pod VM's disk bus can attach",
			Remediation: "Consolidate data onto fewer disks, or plan the VM in virtio mode (more slots) once the guest has virtio drivers.",
			check: func(c *checkContext) []hit {
				limit := maxVirtioDisks
				if c.spec.Mode == podvm.ModeCompat {
					limit = maxSATADisks
				}
				if n := len(c.spec.Disks); n > limit {
					return fired("%d disks exceed the %d a %s pod VM can attach", n, limit, podvm.DiskBus(c.spec.Mode))
				}
				return nil
			},
		},
		{
			ID: "independent-disk", Severity: SeverityWarning, Category: "storage",
			Checks:      "a disk is independent (left out of snapshots)",
			Remediation: "Power the VM off before copying (a snapshot does not freeze independent disks), or change the disk to dependent mode.",
			check: eachDisk(func(d discover.Disk) string {
				if strings.HasPrefix(string(d.Mode), "independent") {
					return "is " + string(d.Mode) + ": snapshots do not cover it"
				}
				return ""
			}),
		},
		{
			ID: "rdm", Severity: SeverityCritical, Category: "storage",
			Checks:      "a disk is a raw device mapping (a host LUN)",
			Remediation: "Present the LUN to the target and attach it there, or storage-vMotion the RDM to a VMDK first.",
			check: eachDisk(func(d discover.Disk) string {
				if d.RDM != nil {
					return "is a " + d.RDM.Compatibility + " raw device mapping"
				}
				return ""
			}),
		},
		{
			ID: "raw-device-disk", Severity: SeverityCritical, Category: "storage",
			Checks:      "a disk is a raw host disk or partitions (VMX deviceType rawDisk, createType fullDevice or partitionedDevice)",
			Remediation: "Copy the host disk into a virtual disk first (e.g. convert it to a VMDK in Workstation), or attach the device on the target host yourself and allow this rule.",
			check: eachDisk(func(d discover.Disk) string {
				if d.Raw == nil {
					return ""
				}
				if d.Raw.Device != "" {
					return fmt.Sprintf("is a raw device disk (%s) of host device %s", d.Raw.Kind, d.Raw.Device)
				}
				return fmt.Sprintf("is a raw device disk (%s)", d.Raw.Kind)
			}),
		},
		{
			ID: "chunked-disk", Severity: SeverityCritical, Category: "storage",
			Checks:      "an OVF disk file is split into chunks (ovf:chunkSize)",
			Remediation: "Join the parts in order into one file (cat FILE.000000000 FILE.000000001 … > FILE) next to the descriptor, drop ovf:chunkSize, and discover again.",
			check: eachDisk(func(d discover.Disk) string {
				if len(d.Chunks) > 0 {
					return fmt.Sprintf("is split into %d parts (%s.000000000 …): the copy reads whole files only", len(d.Chunks), d.File)
				}
				return ""
			}),
		},
		{
			ID: "shared-disk", Severity: SeverityCritical, Category: "storage",
			Checks:      "a disk is multi-writer or on a SCSI controller with bus sharing",
			Remediation: "Shared disks belong to a cluster (e.g. WSFC, Oracle RAC): migrate the cluster together onto shared storage, or unshare the disk.",
			check: func(c *checkContext) []hit {
				shared := map[string]string{}
				for _, ctl := range c.vm.Hardware.Controllers {
					if ctl.Sharing != "" && ctl.Sharing != "noSharing" {
						shared[ctl.ID] = ctl.Sharing
					}
				}
				return eachDisk(func(d discover.Disk) string {
					if d.Sharing == "sharingMultiWriter" {
						return "is multi-writer"
					}
					if s, ok := shared[d.Controller]; ok {
						return "is on controller " + d.Controller + " with " + s
					}
					return ""
				})(c)
			},
		},
		{
			ID: "snapshots-present", Severity: SeverityWarning, Category: "storage",
			Checks:      "the VM has snapshots",
			Remediation: "Delete or consolidate snapshots before migrating: the copy reads through every delta (slower), and snapshots are not migrated.",
			check: func(c *checkContext) []hit {
				if n := len(c.vm.State.Snapshots); n > 0 {
					return fired("%d snapshot(s); current %q", n, c.vm.State.CurrentSnapshot)
				}
				return nil
			},
		},
		{
			ID: "consolidation-needed", Severity: SeverityCritical, Category: "storage",
			Checks:      "vSphere reports that the VM's disks need consolidation",
			Remediation: "Run Snapshots > Consolidate in vSphere; an unconsolidated chain may not be what the VM runs from.",
			check: func(c *checkContext) []hit {
				if c.vm.State.ConsolidationNeeded {
					return fired("disk consolidation is needed")
				}
				return nil
			},
		},
		{
			ID: "cbt-vm", Severity: SeverityInfo, Category: "storage",
			Checks:      "changed block tracking is off for the VM",
			Remediation: "Warm migration (migrate --warm: copies while the VM runs, then a short cutover) needs CBT: enable it in vSphere (ctkEnabled), or let migrate --warm --enable-cbt switch it on with the one stun snapshot it needs. Without it the VM migrates cold.",
			check: func(c *checkContext) []hit {
				if c.vm.Source.Kind == discover.SourceVSphere && !c.vm.State.CBT {
					return fired("changed block tracking is off: migrate --warm copies this VM cold unless --enable-cbt is given")
				}
				return nil
			},
		},
		{
			ID: "cbt-disk", Severity: SeverityInfo, Category: "storage",
			Checks:      "changed block tracking is off for a disk of a VM that has it on",
			Remediation: "Enable CBT on every disk (scsiX:Y.ctkEnabled) and take and delete a snapshot so it takes effect, or let migrate --warm --enable-cbt do it; a disk without it cannot be copied warm.",
			check: func(c *checkContext) []hit {
				if c.vm.Source.Kind != discover.SourceVSphere || !c.vm.State.CBT {
					return nil
				}
				return eachDisk(func(d discover.Disk) string {
					if !d.CBT && d.RDM == nil {
						return "has changed block tracking off"
					}
					return ""
				})(c)
			},
		},
		{
			ID: "controller-no-kvm-equivalent", Severity: SeverityWarning, Category: "storage",
			Checks:      "a disk hangs on a controller KVM does not emulate (BusLogic) or an unknown one",
			Remediation: "The disk moves to the pod VM's virtio or SATA bus: make sure the guest has that driver in its initramfs (guest conversion does this for Linux).",
			check: func(c *checkContext) []hit {
				odd := map[string]discover.ControllerType{}
				for _, ctl := range c.vm.Hardware.Controllers {
					if ctl.Type == discover.ControllerBusLogic || ctl.Type == discover.ControllerUnknown || ctl.Type == "" {
						odd[ctl.ID] = ctl.Type
					}
				}
				return eachDisk(func(d discover.Disk) string {
					if t, ok := odd[d.Controller]; ok {
						return fmt.Sprintf("is on %s controller %s", orUnknown(string(t)), d.Controller)
					}
					return ""
				})(c)
			},
		},
	}
}

// eachDisk fires once per disk for which f returns a message.
func eachDisk(f func(discover.Disk) string) func(*checkContext) []hit {
	return func(c *checkContext) []hit {
		var hits []hit
		for i, d := range c.vm.Hardware.Disks {
			if msg := f(d); msg != "" {
				hits = append(hits, hit{msg: diskName(i, d) + " " + msg})
			}
		}
		return hits
	}
}

func diskName(i int, d discover.Disk) string {
	if d.Label != "" {
		return fmt.Sprintf("disk %q", d.Label)
	}
	return fmt.Sprintf("disk %d (%s:%d)", i, d.Controller, d.Unit)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
