package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/containers/image/v5/image"
	"github.com/containers/image/v5/pkg/blobinfocache/none"
	"github.com/containers/image/v5/pkg/compression"
	"github.com/containers/image/v5/types"
	digest "github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNotPodVMImage is returned for an image without a pod VM spec.
var ErrNotPodVMImage = errors.New("not a pod VM image (no " + AnnotationSpec + " label)")

// Inspect reads a pod VM image's manifest and config and returns its
// spec and disk list without fetching the disks.
func Inspect(ctx context.Context, ref string, ro RegistryOptions) (*Info, error) {
	info, _, err := openImage(ctx, ref, ro, false)
	return info, err
}

// Unpack fetches a pod VM image's layer and writes its disks into dir
// as NAME.qcow2, checking every disk against the recorded SHA-256. dir must
// not exist yet; it appears only when everything checked out.
func Unpack(ctx context.Context, ref, dir string, ro RegistryOptions) (*Info, error) {
	info, src, err := openImage(ctx, ref, ro, true)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// A folder of its own: two unpacks of one image at once must not share it.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	defer os.RemoveAll(tmp)
	d, err := digest.Parse(info.LayerDigest)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer digest: %w", ref, err)
	}
	blob, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: d, Size: info.LayerSize}, none.NoCache)
	if err != nil {
		return nil, fmt.Errorf("image %s: fetch layer %s: %w", ref, d, err)
	}
	defer blob.Close()
	verifier := d.Verifier()
	files := map[string]extractFile{}
	for _, d := range info.Disks {
		// A disk without its own digest is checked by the layer's, below.
		files[path.Clean(d.File)] = extractFile{dst: d.Name + ".qcow2", sha256: d.SHA256, layerChecked: true}
	}
	if b := info.Boot; b != nil {
		files[path.Clean(b.Kernel)] = extractFile{dst: "vmlinuz", sha256: b.KernelSHA256}
		if b.Initrd != "" {
			files[path.Clean(b.Initrd)] = extractFile{dst: "initrd.img", sha256: b.InitrdSHA256}
		}
	}
	// A disk the layer digest checks (no digest of its own) is checked by
	// the uncompressed tar's digest, the config's diffID: the layer may have
	// been recompressed on its way to a registry.
	var tarDigest digest.Digest
	for _, d := range info.Disks {
		if d.SHA256 == "" && info.LayerDiffID != info.LayerDigest { // an uncompressed blob is its tar
			if tarDigest, err = digest.Parse(info.LayerDiffID); err != nil {
				return nil, fmt.Errorf("image %s: disk %s has no sha256 and the layer no diffID to check it by: %w", ref, d.Name, err)
			}
		}
	}
	if err := extractFiles(ctx, io.TeeReader(blob, verifier), tmp, files, tarDigest); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if !verifier.Verified() {
		return nil, fmt.Errorf("image %s: layer does not match its digest %s", ref, d)
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "image.json"), b, 0o444); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return info, nil
}

// openImage reads the manifest and config of ref; with keep it returns the
// open source for fetching blobs.
func openImage(ctx context.Context, ref string, ro RegistryOptions, keep bool) (*Info, types.ImageSource, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, nil, err
	}
	sys := ro.systemContext()
	src, err := r.NewImageSource(ctx, sys)
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", ref, err)
	}
	info, err := readInfo(ctx, sys, src)
	if err != nil || !keep {
		src.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", ref, err)
		}
		info.Ref = ref
		return info, nil, nil
	}
	info.Ref = ref
	return info, src, nil
}

func readInfo(ctx context.Context, sys *types.SystemContext, src types.ImageSource) (*Info, error) {
	img, err := image.FromUnparsedImage(ctx, sys, image.UnparsedInstance(src, nil))
	if err != nil {
		return nil, err
	}
	mb, mt, err := img.Manifest(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := img.OCIConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	labels := cfg.Config.Labels
	if labels[AnnotationSpec] == "" {
		var m imgspecv1.Manifest
		if json.Unmarshal(mb, &m) == nil {
			labels = m.Annotations
		}
	}
	if labels[AnnotationSpec] == "" {
		return nil, ErrNotPodVMImage
	}
	info := &Info{ManifestDigest: digest.FromBytes(mb).String(), MediaType: mt}
	if err := json.Unmarshal([]byte(labels[AnnotationSpec]), &info.Spec); err != nil {
		return nil, fmt.Errorf("label %s: %w", AnnotationSpec, err)
	}
	if err := json.Unmarshal([]byte(labels[AnnotationDisks]), &info.Disks); err != nil {
		return nil, fmt.Errorf("label %s: %w", AnnotationDisks, err)
	}
	if b := labels[AnnotationBoot]; b != "" {
		info.Boot = &Boot{}
		if err := json.Unmarshal([]byte(b), info.Boot); err != nil {
			return nil, fmt.Errorf("label %s: %w", AnnotationBoot, err)
		}
	}
	layers := img.LayerInfos()
	if len(layers) != 1 {
		return nil, fmt.Errorf("a pod VM image has one layer, this one has %d", len(layers))
	}
	info.LayerDigest, info.LayerSize, info.LayerMediaType = layers[0].Digest.String(), layers[0].Size, layers[0].MediaType
	if ids := cfg.RootFS.DiffIDs; len(ids) == 1 {
		info.LayerDiffID = ids[0].String()
	}
	if err := info.Spec.Validate(); err != nil {
		return nil, err
	}
	return info, nil
}

// extractFile says where a file of the layer goes and what it must hash to.
type extractFile struct {
	dst    string // name in the target folder
	sha256 string
	// layerChecked: the caller verifies the whole layer's digest, so an
	// empty sha256 (a disk the layer digest checks) is accepted.
	layerChecked bool
}

// extractFiles reads a (possibly compressed) layer tar and writes each
// wanted file into dir (0444), checking its SHA-256; with tarDigest set it
// also checks the uncompressed tar's digest. It stops with ctx's error
// within a chunk.
func extractFiles(ctx context.Context, layer io.Reader, dir string, want map[string]extractFile, tarDigest digest.Digest) error {
	layer = ctxReader{ctx, layer}
	rc, _, err := compression.AutoDecompress(layer)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	defer rc.Close()
	var r io.Reader = rc
	var tarCheck digest.Verifier
	if tarDigest != "" {
		tarCheck = tarDigest.Verifier()
		r = io.TeeReader(rc, tarCheck)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		d, ok := want[path.Clean(h.Name)]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		delete(want, path.Clean(h.Name))
		if d.sha256 == "" && !d.layerChecked {
			return fmt.Errorf("%s: the image records no sha256 for it", h.Name)
		}
		if err := writeChecked(tr, filepath.Join(dir, d.dst), h.Name, d.sha256); err != nil {
			return err
		}
	}
	// Drain what follows the tar so the digests cover every byte.
	if tarCheck != nil {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		if !tarCheck.Verified() {
			return fmt.Errorf("layer: the uncompressed tar does not match the image's diffID %s", tarDigest)
		}
	}
	if _, err := io.Copy(io.Discard, layer); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	for f := range want {
		return fmt.Errorf("layer lacks %s", f)
	}
	return nil
}

// writeChecked writes r to a new file dst (0444 when done) and checks its
// SHA-256 against want; name is the file's name in the layer.
func writeChecked(r io.Reader, dst, name, want string) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	sum := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, sum), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	// An empty want is a disk the layer digest checks (see Disk.SHA256),
	// which extractFiles lets through only for a caller verifying it.
	if got := hex.EncodeToString(sum.Sum(nil)); want != "" && got != want {
		return fmt.Errorf("%s: sha256 %s, the image records %s", name, got, want)
	}
	return os.Chmod(dst, 0o444)
}
