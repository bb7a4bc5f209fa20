package plan

import (
	"strings"

	"github.com/podvm-migrate/podvm-migrate/discover"
)

func hardwareRules() []Rule {
	return []Rule{
		{
			ID: "cpu-hotplug", Severity: SeverityWarning, Category: "hardware",
			Checks:      "CPU hot-add is enabled on the VM",
			Remediation: "Hot-add is not carried over; size the pod VM's CPUs for peak load, or use KubeVirt's CPU hotplug (maxSockets) after migration.",
			check: func(c *checkContext) []hit {
				if c.vm.Hardware.CPUHotAdd {
					return fired("CPU hot-add is enabled; the pod VM starts with a fixed %d vCPUs", c.spec.CPU.VCPUs())
				}
				return nil
			},
		},
		{
			ID: "memory-hotplug", Severity: SeverityWarning, Category: "hardware",
			Checks:      "memory hot-add is enabled on the VM",
			Remediation: "Hot-add is not carried over; size the pod VM's memory for peak load, or use KubeVirt's memory hotplug (maxGuest) after migration.",
			check: func(c *checkContext) []hit {
				if c.vm.Hardware.MemoryHotAdd {
					return fired("memory hot-add is enabled; the pod VM starts with a fixed %d MiB", c.spec.MemoryMiB)
				}
				return nil
			},
		},
		{
			ID: "memory-unknown", Severity: SeverityWarning, Category: "hardware",
			Checks:      "the source states no readable memory size (a .vmx without memsize, or one that is not a number)",
			Remediation: "Set spec.memoryMiB in the plan to the VM's real memory before migrating (or fix memsize in the .vmx and discover again): the planned size is only a default.",
			check: func(c *checkContext) []hit {
				if c.vm.Hardware.MemoryUnknown {
					return fired("memory size unknown: the pod VM is planned with %d MiB, likely too little to boot", c.spec.MemoryMiB)
				}
				return nil
			},
		},
		{
			ID: "cpu-above-target", Severity: SeverityCritical, Category: "hardware",
			Checks:      "the VM has more vCPUs than the target allows",
			Remediation: "Reduce the VM's vCPUs in vSphere before migrating, or raise --max-vcpus if the target really allows more.",
			check: func(c *checkContext) []hit {
				if n := c.spec.CPU.VCPUs(); n > c.opts.Target.MaxVCPUs {
					return fired("%d vCPUs exceed the target's %d", n, c.opts.Target.MaxVCPUs)
				}
				return nil
			},
		},
		{
			ID: "memory-above-target", Severity: SeverityCritical, Category: "hardware",
			Checks:      "the VM has more memory than the target allows",
			Remediation: "Reduce the VM's memory in vSphere before migrating, or raise --max-memory if the target really has more.",
			check: func(c *checkContext) []hit {
				if c.spec.MemoryMiB > c.opts.Target.MaxMemoryMiB {
					return fired("%d MiB of memory exceed the target's %d MiB", c.spec.MemoryMiB, c.opts.Target.MaxMemoryMiB)
				}
				return nil
			},
		},
		{
			ID: "secure-boot-unavailable", Severity: SeverityCritical, Category: "hardware",
			Checks:      "UEFI secure boot is on but the target has no OVMF secure-boot firmware",
			Remediation: "Install OVMF with secure boot (Debian: ovmf, OVMF_CODE.secboot.fd) on the target, or turn secure boot off in the VM first.",
			check: func(c *checkContext) []hit {
				if c.vm.Hardware.Firmware == discover.FirmwareEFI && c.vm.Hardware.SecureBoot && !c.opts.Target.SecureBootFirmware {
					return fired("UEFI secure boot is enabled and the target offers no secure-boot firmware")
				}
				return nil
			},
		},
		{
			ID: "vtpm", Severity: SeverityWarning, Category: "hardware",
			Checks:      "the VM has a virtual TPM",
			Remediation: "The pod VM gets a new, empty TPM: suspend BitLocker or LUKS TPM sealing and keep recovery keys before migrating.",
			check: func(c *checkContext) []hit {
				if c.vm.Hardware.VTPM {
					return fired("vTPM contents (sealed keys) cannot be moved; the pod VM gets a fresh TPM")
				}
				return nil
			},
		},
		{
			ID: "pci-passthrough", Severity: SeverityCritical, Category: "hardware",
			Checks:      "a host PCI device or vGPU is passed through",
			Remediation: "Remove the passthrough device, or plan host-device assignment on the target (KubeVirt hostDevices/GPUs) and allow this rule.",
			check:       deviceCheck("passed-through device", discover.DevicePCIPassthrough, discover.DeviceVGPU),
		},
		{
			ID: "sriov", Severity: SeverityCritical, Category: "hardware",
			Checks:      "the VM has an SR-IOV network function",
			Remediation: "Replace the SR-IOV adapter with a vmxnet3 one, or plan an SR-IOV network on the target and allow this rule.",
			check: func(c *checkContext) []hit {
				hits := deviceCheck("SR-IOV function", discover.DeviceSRIOV)(c)
				for _, n := range c.vm.Hardware.NICs {
					if n.Model == "sriov" {
						hits = append(hits, hit{msg: "NIC " + label(n.Label, n.MAC) + " is an SR-IOV passthrough adapter"})
					}
				}
				return hits
			},
		},
		{
			ID: "usb", Severity: SeverityWarning, Category: "hardware",
			Checks:      "USB controllers or devices are attached",
			Remediation: "USB devices stay with the ESXi host; reattach them on the target (KubeVirt host USB) or remove them. A USB controller alone is recreated as needed.",
			check: func(c *checkContext) []hit {
				var hits []hit
				for _, d := range c.vm.State.Devices {
					switch d.Kind {
					case discover.DeviceUSB:
						hits = append(hits, hit{msg: "USB device " + label(d.Label, d.Detail) + " is attached"})
					case discover.DeviceUSBController:
						hits = append(hits, hit{msg: "USB controller " + label(d.Label, d.Detail) + " is not migrated", severity: SeverityInfo})
					}
				}
				return hits
			},
		},
		{
			ID: "fault-tolerance", Severity: SeverityCritical, Category: "hardware",
			Checks:      "vSphere Fault Tolerance is configured",
			Remediation: "Turn off Fault Tolerance for the VM in vSphere; its disks cannot be exported while FT runs.",
			check: func(c *checkContext) []hit {
				if ft := c.vm.State.FaultTolerance; ft != "" && ft != "notConfigured" {
					return fired("Fault Tolerance is %s", ft)
				}
				return nil
			},
		},
		{
			ID: "serial-parallel", Severity: SeverityWarning, Category: "hardware",
			Checks:      "serial or parallel ports are attached; a warning when a pipe, a network URI or a host device backs one",
			Remediation: "Ports are not migrated: the pod VM's serial console goes to its log. Whatever reads a pipe, a network serial concentrator or a host port must be set up again on the target.",
			check: func(c *checkContext) []hit {
				var hits []hit
				for _, d := range c.vm.State.Devices {
					if d.Kind != discover.DeviceSerial && d.Kind != discover.DeviceParallel {
						continue
					}
					h := hit{msg: string(d.Kind) + " port " + label(d.Label, d.Detail), severity: SeverityInfo}
					switch d.Backing {
					case discover.BackingPipe, discover.BackingNetwork, discover.BackingDevice:
						h.msg += " is backed by a " + d.Backing + " the target cannot follow"
						h.severity = SeverityWarning
					case discover.BackingFile:
						h.msg += " writes to a file"
					}
					hits = append(hits, h)
				}
				return hits
			},
		},
		{
			ID: "floppy", Severity: SeverityWarning, Category: "hardware",
			Checks:      "a floppy drive is attached",
			Remediation: "A pod VM has no floppy drive: copy what the image holds (drivers, answer files) into the guest before migrating, and remove the drive.",
			check:       deviceCheck("drive", discover.DeviceFloppy),
		},
		{
			ID: "scsi-passthrough", Severity: SeverityCritical, Category: "hardware",
			Checks:      "a host SCSI device (tape, changer, CD-ROM) is passed through (deviceType scsi-passthru)",
			Remediation: "Remove the pass-through device, or present the device to the target host and attach it there yourself, then allow this rule.",
			check:       deviceCheck("device", discover.DeviceSCSIPassthrough),
		},
	}
}

// deviceCheck fires once per host-bound device of the given kinds.
func deviceCheck(what string, kinds ...discover.DeviceKind) func(*checkContext) []hit {
	return func(c *checkContext) []hit {
		var hits []hit
		for _, d := range c.vm.State.Devices {
			for _, k := range kinds {
				if d.Kind == k {
					hits = append(hits, hit{msg: string(k) + " " + what + " " + label(d.Label, d.Detail)})
				}
			}
		}
		return hits
	}
}

// label names a device by its label, falling back to a detail.
func label(l, detail string) string {
	l = strings.TrimSpace(l)
	switch {
	case l != "" && detail != "":
		return "\"" + l + "\" (" + detail + ")"
	case l != "":
		return "\"" + l + "\""
	}
	return detail
}
