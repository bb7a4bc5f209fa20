package convert

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/podvm-migrate/podvm-migrate/convert/block"
	"github.com/podvm-migrate/podvm-migrate/convert/vmdk"
)

// FormatOVA is an OVA (a tar of an OVF and its disks) as a source: its
// first VMDK is read in place, without unpacking.
const FormatOVA = "ova"

// openOVA opens the first .vmdk member of the OVA at p, read through a
// window of the tar file (tar members are stored whole and contiguous).
func openOVA(p string) (block.Image, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			f.Close()
			return nil, fmt.Errorf("%s: the OVA holds no .vmdk disk", p)
		}
		if err != nil {
			f.Close()
			return nil, block.Wrap(p, cr.n, err, "OVA (tar)")
		}
		if h.Typeflag != tar.TypeReg || !strings.EqualFold(path.Ext(h.Name), ".vmdk") {
			continue
		}
		// Headers are read in 512-byte blocks: the member's data starts here.
		bf := block.NewFile(p+"/"+h.Name, io.NewSectionReader(f, cr.n, h.Size), h.Size, f)
		d, err := vmdk.OpenSparse(bf)
		if err != nil {
			f.Close()
			return nil, err
		}
		return d, nil
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
