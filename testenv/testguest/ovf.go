package testguest

import (
	"bytes"
	"fmt"
	"text/template"
)

// ovfDisk is what the OVF envelope says about the disk file it references.
type ovfDisk struct {
	Href          string // file name inside the package
	FileSize      int64  // bytes of the (streamOptimized) file
	CapacityBytes int64  // guest-visible size
}

// OVF renders an OVF 1.0 envelope, as vSphere exports it, for a VM whose
// only disk is d (a streamOptimized VMDK).
func (h Hardware) OVF(d ovfDisk) (string, error) {
	var buf bytes.Buffer
	data := struct {
		Hardware
		Disk          ovfDisk
		SCSISubType   string
		VMXGuestID    string
		SecureBootStr string
	}{h, d, map[string]string{"pvscsi": "VirtualSCSI", "lsilogic": "lsilogic"}[h.Controller],
		guestIDFromVMX(h.GuestOS), fmt.Sprint(h.SecureBoot)}
	if err := ovfTemplate.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("ovf: %w", err)
	}
	return buf.String(), nil
}

// guestIDFromVMX maps a VMX guestOS key to the vSphere API guest id, e.g.
// debian12-64 -> debian12_64Guest.
func guestIDFromVMX(key string) string {
	b := []byte(key)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b) + "Guest"
}

var ovfTemplate = template.Must(template.New("ovf").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{{.Disk.Href}}" ovf:id="file1" ovf:size="{{.Disk.FileSize}}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{{.Disk.CapacityBytes}}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="{{.Network}}">
      <Description>The {{.Network}} network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{{.Name}}">
    <Info>A virtual machine</Info>
    <Name>{{.Name}}</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="{{.VMXGuestID}}">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{{.Name}}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-{{printf "%02d" .HWVersion}}</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{{.CPUs}} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.CPUs}}</rasd:VirtualQuantity>
        <vmw:CoresPerSocket ovf:required="false">{{.CoresPerSocket}}</vmw:CoresPerSocket>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{{.MemoryMiB}}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.MemoryMiB}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>{{.SCSISubType}}</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>{{.MAC}}</rasd:Address>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>{{.Network}}</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on &quot;{{.Network}}&quot;</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="{{.Firmware}}"/>
{{- if eq .Firmware "efi"}}
      <vmw:Config ovf:required="false" vmw:key="bootOptions.efiSecureBootEnabled" vmw:value="{{.SecureBootStr}}"/>
{{- end}}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`))
