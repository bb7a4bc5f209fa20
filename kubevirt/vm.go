package kubevirt

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"

	"github.com/podvm-migrate/podvm-migrate/image"
	"github.com/podvm-migrate/podvm-migrate/podvm"
)

// Objects are the KubeVirt objects of one pod VM: its VirtualMachine, a
// DataVolume per disk that does not come from the pod VM image, and notes
// on what could not be mapped exactly.
type Objects struct {
	VM          *kubevirtv1.VirtualMachine
	DataVolumes []*cdiv1.DataVolume
	Notes       []string
}

// PodNetwork is the network name that means the pod network in a spec.
const PodNetwork = "pod"

// Build makes the objects of one pod VM spec.
func Build(s *podvm.Spec, o Options) (*Objects, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	b := &builder{spec: s, opts: o, objs: &Objects{}}
	vmi, err := b.vmiSpec()
	if err != nil {
		return nil, fmt.Errorf("kubevirt: %s: %w", s.Name, err)
	}
	labels := sourceLabels(s)
	annotations := sourceAnnotations(s)
	rs := o.runStrategy()
	b.objs.VM = &kubevirtv1.VirtualMachine{
		TypeMeta: metav1.TypeMeta{APIVersion: kubevirtv1.GroupVersion.String(), Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: o.TargetNamespace(), Labels: labels, Annotations: annotations,
		},
		Spec: kubevirtv1.VirtualMachineSpec{
			RunStrategy: &rs,
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: merge(labels, map[string]string{"kubevirt.io/vm": s.Name}), Annotations: annotations},
				Spec:       *vmi,
			},
		},
	}
	return b.objs, nil
}

// builder fills one pod VM's objects.
type builder struct {
	spec *podvm.Spec
	opts Options
	objs *Objects
}

func (b *builder) note(format string, a ...any) {
	b.objs.Notes = append(b.objs.Notes, fmt.Sprintf("%s: ", b.spec.Name)+fmt.Sprintf(format, a...))
}

func (b *builder) vmiSpec() (*kubevirtv1.VirtualMachineInstanceSpec, error) {
	s := b.spec
	mem := resource.MustParse(fmt.Sprintf("%dMi", s.MemoryMiB))
	d := kubevirtv1.DomainSpec{
		CPU: &kubevirtv1.CPU{
			Sockets: uint32(s.CPU.Sockets), Cores: uint32(s.CPU.Cores), Threads: uint32(s.CPU.Threads),
		},
		Memory:    &kubevirtv1.Memory{Guest: &mem},
		Resources: kubevirtv1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: mem}},
		Firmware:  b.firmware(),
	}
	switch s.MachineType {
	case "q35":
		d.Machine = &kubevirtv1.Machine{Type: "q35"}
	case "pc":
		d.Machine = &kubevirtv1.Machine{Type: "q35"}
		b.note("machine type pc (i440fx) is not offered by KubeVirt; q35 is used")
	}
	if s.Firmware.SecureBoot || s.Firmware.SMM {
		d.Features = &kubevirtv1.Features{SMM: &kubevirtv1.FeatureState{Enabled: ptrTo(true)}}
	}
	if s.TPM {
		d.Devices.TPM = &kubevirtv1.TPMDevice{Persistent: ptrTo(true)}
	}
	out := &kubevirtv1.VirtualMachineInstanceSpec{Domain: d}
	if err := b.disks(out); err != nil {
		return nil, err
	}
	if err := b.nics(out); err != nil {
		return nil, err
	}
	if s.Guest.Hostname != "" && len(s.Guest.Hostname) <= 63 && podvm.IsDNS1123Label(s.Guest.Hostname) {
		out.Hostname = s.Guest.Hostname
	}
	return out, nil
}

// firmware maps bios/efi, secure boot and the SMBIOS UUID (kept so
// licences bound to it survive the move).
func (b *builder) firmware() *kubevirtv1.Firmware {
	s := b.spec
	fw := &kubevirtv1.Firmware{UUID: types.UID(strings.ToLower(s.Source.BIOSUUID))}
	if s.Firmware.Type == podvm.FirmwareEFI {
		efi := &kubevirtv1.EFI{SecureBoot: ptrTo(s.Firmware.SecureBoot)}
		if s.TPM {
			// Keep NVRAM (boot entries, enrolled keys) next to the vTPM state.
			efi.Persistent = ptrTo(true)
		}
		fw.Bootloader = &kubevirtv1.Bootloader{EFI: efi}
	} else {
		fw.Bootloader = &kubevirtv1.Bootloader{BIOS: &kubevirtv1.BIOS{}}
	}
	return fw
}

// disks adds a disk and a volume per spec disk: a containerDisk path in the
// pod VM image, or a DataVolume for a large disk.
func (b *builder) disks(out *kubevirtv1.VirtualMachineInstanceSpec) error {
	s := b.spec
	ref := b.opts.image(s.Name)
	for i, sd := range s.Disks {
		bus := sd.Bus
		if bus == "" {
			bus = podvm.DiskBus(s.Mode)
		}
		if bus == podvm.BusIDE {
			b.note("disk %s: KubeVirt has no IDE bus; SATA is used", sd.Name)
			bus = podvm.BusSATA
		}
		disk := kubevirtv1.Disk{
			Name:       sd.Name,
			DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBus(bus)}},
			Cache:      kubevirtv1.DriverCache(sd.Cache),
		}
		if i == 0 {
			disk.BootOrder = ptrTo(uint(1))
		}
		vol := kubevirtv1.Volume{Name: sd.Name}
		if ref == "" && !b.opts.useDataVolume(sd.CapacityBytes) {
			b.note("disk %s: no pod VM image reference (set a registry); a DataVolume is used", sd.Name)
		}
		if b.opts.useDataVolume(sd.CapacityBytes) || ref == "" {
			dv := b.dataVolume(sd)
			b.objs.DataVolumes = append(b.objs.DataVolumes, dv)
			vol.DataVolume = &kubevirtv1.DataVolumeSource{Name: dv.Name}
		} else {
			file := sd.File
			if file == "" {
				file = sd.Name + ".qcow2"
			}
			vol.ContainerDisk = &kubevirtv1.ContainerDiskSource{Image: ref, Path: "/" + image.DiskDir + "/" + file}
		}
		out.Domain.Devices.Disks = append(out.Domain.Devices.Disks, disk)
		out.Volumes = append(out.Volumes, vol)
	}
	return nil
}

// DataVolumeName is the name of the DataVolume (and PVC) of a pod VM disk.
func DataVolumeName(vm, disk string) string { return vm + "-" + disk }

// dataVolume is an empty volume of the disk's size and storage class;
// `kubevirt convert-jobs` fills it with the converted disk.
func (b *builder) dataVolume(sd podvm.Disk) *cdiv1.DataVolume {
	s := b.spec
	storage := &cdiv1.StorageSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceStorage: *resource.NewQuantity(sd.CapacityBytes, resource.BinarySI),
		}},
	}
	if sc := sd.StorageClass; sc != "" {
		storage.StorageClassName = ptrTo(sc)
	} else if sc := b.opts.DefaultStorageClass; sc != "" {
		storage.StorageClassName = ptrTo(sc)
	}
	annotations := sourceAnnotations(s)
	if sd.Source != "" {
		annotations[AnnoDiskSource] = sd.Source
	}
	return &cdiv1.DataVolume{
		TypeMeta: metav1.TypeMeta{APIVersion: cdiv1.SchemeGroupVersion.String(), Kind: "DataVolume"},
		ObjectMeta: metav1.ObjectMeta{
			Name: DataVolumeName(s.Name, sd.Name), Namespace: b.opts.TargetNamespace(),
			Labels: merge(sourceLabels(s), map[string]string{LabelDisk: sd.Name}), Annotations: annotations,
		},
		Spec: cdiv1.DataVolumeSpec{
			Source:  &cdiv1.DataVolumeSource{Blank: &cdiv1.DataVolumeBlankImage{}},
			Storage: storage,
		},
	}
}

// CheckNetworks refuses NIC networks KubeVirt cannot give: the runtime-only
// targets libvirt:NAME and bridge:NAME (a Multus network name has no ':').
func CheckNetworks(s *podvm.Spec) error {
	for _, n := range s.NICs {
		if strings.Contains(n.Network, ":") {
			return fmt.Errorf("pod VM %s: nic %s: network %q is for the included runtime only (migrate --target runtime); for KubeVirt map the source network to pod or a Multus network NAMESPACE/NAME and plan again", s.Name, n.Name, n.Network)
		}
	}
	return nil
}

// nics adds an interface and a network per spec NIC: the pod network
// (masquerade) or a Multus network (bridge), with the source MAC.
func (b *builder) nics(out *kubevirtv1.VirtualMachineInstanceSpec) error {
	s := b.spec
	if err := CheckNetworks(s); err != nil {
		return err
	}
	podUsed := false
	for _, n := range s.NICs {
		model := n.Model
		if model == "" {
			model = podvm.NICModel(s.Mode)
		}
		iface := kubevirtv1.Interface{Name: n.Name, Model: model}
		if n.MAC != "" {
			hw, err := net.ParseMAC(n.MAC)
			if err != nil {
				return fmt.Errorf("nic %s: %w", n.Name, err)
			}
			iface.MacAddress = hw.String()
		}
		nw := kubevirtv1.Network{Name: n.Name}
		if n.Network == "" || n.Network == PodNetwork {
			if podUsed {
				return fmt.Errorf("nic %s: only one NIC can use the pod network; map the network to a Multus network", n.Name)
			}
			podUsed = true
			iface.Masquerade = &kubevirtv1.InterfaceMasquerade{}
			nw.Pod = &kubevirtv1.PodNetwork{}
		} else {
			iface.Bridge = &kubevirtv1.InterfaceBridge{}
			nw.Multus = &kubevirtv1.MultusNetwork{NetworkName: n.Network}
		}
		out.Domain.Devices.Interfaces = append(out.Domain.Devices.Interfaces, iface)
		out.Networks = append(out.Networks, nw)
	}
	if len(s.NICs) == 0 {
		out.Domain.Devices.AutoattachPodInterface = ptrTo(false)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
