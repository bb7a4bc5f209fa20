package testguest

import (
	"archive/tar"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podvm-migrate/podvm-migrate/internal/testtool"
	"github.com/podvm-migrate/podvm-migrate/testenv/internal/diskimg"
)

var (
	guestOnce sync.Once
	guestDir  string
	guestErr  error
)

// testGuest builds the BIOS test guest once for the whole package.
func testGuest(t *testing.T) *Guest {
	t.Helper()
	testtool.Require(t, "qemu-img", "qemu-system-x86_64", "mkfs.vfat", "syslinux", "mcopy", "dpkg-deb")
	guestOnce.Do(func() {
		guestDir, guestErr = os.MkdirTemp("", "podvm-testenv-guest-")
		if guestErr != nil {
			return
		}
		_, guestErr = Build(context.Background(), Options{OutDir: guestDir})
	})
	if guestErr != nil {
		t.Fatalf("build test guest: %v", guestErr)
	}
	return &Guest{Dir: guestDir, Firmware: "bios", CapacityBytes: defaultDiskMiB << 20}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

type imgInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
	ActualSize  int64  `json:"actual-size"`
	Specific    struct {
		Data struct {
			CreateType string `json:"create-type"`
		} `json:"data"`
	} `json:"format-specific"`
}

func qemuImgInfo(t *testing.T, path string) imgInfo {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info imgInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	return info
}

func TestGuestDisksAreTheSameGuest(t *testing.T) {
	g := testGuest(t)
	cases := []struct {
		file, format, createType string
	}{
		{Raw, "raw", ""},
		{VMDK, "vmdk", "monolithicSparse"},
		{Stream, "vmdk", "streamOptimized"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			info := qemuImgInfo(t, g.Path(c.file))
			if info.Format != c.format || info.Specific.Data.CreateType != c.createType {
				t.Errorf("%s: format %s/%q, want %s/%q", c.file, info.Format, info.Specific.Data.CreateType, c.format, c.createType)
			}
			if info.VirtualSize != g.CapacityBytes {
				t.Errorf("%s: virtual size %d, want %d", c.file, info.VirtualSize, g.CapacityBytes)
			}
			if out, err := exec.Command("qemu-img", "compare", "-f", "raw", "-F", c.format, g.Path(Raw), g.Path(c.file)).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare raw %s: %v: %s", c.file, err, out)
			}
		})
	}
	// The raw disk is sparse: the zero tail of the disk and partition are holes.
	if info := qemuImgInfo(t, g.Path(Raw)); info.ActualSize > 24<<20 {
		t.Errorf("guest.raw allocates %d bytes; want a sparse file under 24 MiB", info.ActualSize)
	}
}

func TestGuestPartitionTable(t *testing.T) {
	g := testGuest(t)
	testtool.Require(t, "sfdisk")
	out, err := exec.Command("sfdisk", "--json", g.Path(Raw)).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			Label      string `json:"label"`
			Partitions []struct {
				Start    int64  `json:"start"`
				Size     int64  `json:"size"`
				Type     string `json:"type"`
				Bootable bool   `json:"bootable"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatal(err)
	}
	ps := pt.PartitionTable.Partitions
	if pt.PartitionTable.Label != "dos" || len(ps) != 1 || ps[0].Start != diskimg.PartitionStart || ps[0].Type != "c" || !ps[0].Bootable ||
		ps[0].Size != bootPartMiB<<20/diskimg.SectorSize {
		t.Errorf("partition table = %s; want one bootable type-c partition at 2048 of %d sectors", out, bootPartMiB<<20/diskimg.SectorSize)
	}
}

func TestGuestVMXDescribesTheDisk(t *testing.T) {
	g := testGuest(t)
	b, err := os.ReadFile(g.Path(VMX))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`guestOS = "debian12-64"`, `firmware = "bios"`, `numvcpus = "2"`, `cpuid.coresPerSocket = "2"`,
		`memSize = "512"`, `scsi0.virtualDev = "pvscsi"`, `scsi0:0.fileName = "guest.vmdk"`,
		`ethernet0.virtualDev = "vmxnet3"`, `ethernet0.addressType = "static"`, `ethernet0.address = "00:50:56:3f:00:01"`,
		`virtualHW.version = "20"`,
	} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("guest.vmx lacks %s", want)
		}
	}
}

func TestGuestOVAIsAValidPackage(t *testing.T) {
	g := testGuest(t)
	f, err := os.Open(g.Path(OVA))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	sums := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		dst := filepath.Join(t.TempDir(), hdr.Name)
		out, _ := os.Create(dst)
		io.Copy(out, tr)
		out.Close()
		sum, err := sha256File(dst)
		if err != nil {
			t.Fatal(err)
		}
		sums[hdr.Name] = sum
		if hdr.Name == Stream {
			if out, err := exec.Command("qemu-img", "compare", "-F", "vmdk", g.Path(Raw), dst).CombinedOutput(); err != nil {
				t.Errorf("disk in OVA differs from guest.raw: %v: %s", err, out)
			}
		}
	}
	if strings.Join(names, ",") != "guest.ovf,guest.mf,guest-stream.vmdk" {
		t.Fatalf("OVA members %v: want the descriptor first, then the manifest and the disk", names)
	}
	mf, err := os.ReadFile(g.Path(Manifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{OVF, Stream} {
		if want := "SHA256(" + n + ")= " + sums[n] + "\n"; !strings.Contains(string(mf), want) {
			t.Errorf("manifest lacks %q:\n%s", want, mf)
		}
	}

	var env struct {
		Refs []struct {
			Href string `xml:"href,attr"`
			Size int64  `xml:"size,attr"`
		} `xml:"References>File"`
		Disks []struct {
			Capacity string `xml:"capacity,attr"`
			Units    string `xml:"capacityAllocationUnits,attr"`
		} `xml:"DiskSection>Disk"`
		Items []struct {
			ResourceType int    `xml:"ResourceType"`
			Quantity     int    `xml:"VirtualQuantity"`
			SubType      string `xml:"ResourceSubType"`
			Address      string `xml:"Address"`
		} `xml:"VirtualSystem>VirtualHardwareSection>Item"`
	}
	ovf, _ := os.ReadFile(g.Path(OVF))
	if err := xml.Unmarshal(ovf, &env); err != nil {
		t.Fatalf("guest.ovf: %v", err)
	}
	st, _ := os.Stat(g.Path(Stream))
	if len(env.Refs) != 1 || env.Refs[0].Href != Stream || env.Refs[0].Size != st.Size() {
		t.Errorf("OVF references %+v; want %s of %d bytes", env.Refs, Stream, st.Size())
	}
	if len(env.Disks) != 1 || env.Disks[0].Capacity != "67108864" || env.Disks[0].Units != "byte" {
		t.Errorf("OVF disks %+v", env.Disks)
	}
	got := map[int]string{}
	for _, it := range env.Items {
		got[it.ResourceType] = it.SubType + it.Address
		if it.ResourceType == 3 && it.Quantity != 2 || it.ResourceType == 4 && it.Quantity != 512 {
			t.Errorf("OVF item %+v", it)
		}
	}
	if got[6] != "VirtualSCSI0" || got[10] != "VmxNet300:50:56:3f:00:01" || len(got) != 5 {
		t.Errorf("OVF hardware items %v", got)
	}
}

func TestBuildGuestRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"no out dir", Options{}, "no output folder"},
		{"tiny disk", Options{OutDir: t.TempDir(), DiskMiB: 8}, "too small"},
		{"bad firmware", Options{OutDir: t.TempDir(), Hardware: Hardware{Name: "x", Firmware: "coreboot"}}, "firmware"},
		{"secure boot on bios", Options{OutDir: t.TempDir(), Hardware: func() Hardware { h := DefaultHardware("bios"); h.SecureBoot = true; return h }()}, "secure boot"},
		{"odd topology", Options{OutDir: t.TempDir(), Hardware: func() Hardware { h := DefaultHardware("bios"); h.CPUs = 3; return h }()}, "sockets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(context.Background(), c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one mentioning %q", err, c.want)
			}
		})
	}
}
