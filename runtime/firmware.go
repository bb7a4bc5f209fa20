package runtime

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ovmf is a UEFI code image and the variable store template that fits it.
type ovmf struct {
	Code, Vars string
	Secure     bool
}

// OVMF code images with the variable store template beside them that fits,
// best first: Debian's names, then RHEL's. The secure-boot builds need SMM
// and come with Microsoft's keys enrolled in the template.
var (
	ovmfPairs       = [][2]string{{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"}, {"OVMF_CODE.fd", "OVMF_VARS.fd"}}
	ovmfSecurePairs = [][2]string{{"OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"}, {"OVMF_CODE.secboot.fd", "OVMF_VARS.ms.fd"},
		{"OVMF_CODE.secboot.fd", "OVMF_VARS.secboot.fd"}}
)

// findOVMF picks UEFI firmware: in dir when one is configured, else among
// the loaders libvirt's domain capabilities list (caps), with the variable
// store template beside the code image. With secureBoot only a secure-boot
// build will do.
func findOVMF(dir string, caps *hostCaps, secureBoot bool) (*ovmf, error) {
	pairs := ovmfPairs
	if secureBoot {
		pairs = ovmfSecurePairs
	}
	if secureBoot && dir == "" && caps != nil && !caps.SecureLoader {
		return nil, noOVMF(dir, caps, secureBoot)
	}
	for _, p := range pairs {
		for _, code := range ovmfCandidates(dir, caps, p[0]) {
			vars := filepath.Join(filepath.Dir(code), p[1])
			if fileExists(code) && fileExists(vars) {
				return &ovmf{Code: code, Vars: vars, Secure: secureBoot}, nil
			}
		}
	}
	return nil, noOVMF(dir, caps, secureBoot)
}

// noOVMF says which firmware is missing and where it was looked for.
func noOVMF(dir string, caps *hostCaps, secureBoot bool) error {
	where := dir
	if dir == "" {
		listed := "none"
		if caps != nil && len(caps.Loaders) > 0 {
			listed = strings.Join(caps.Loaders, ", ")
		}
		where = "the firmware libvirt lists (" + listed + ")"
	}
	if secureBoot {
		return fmt.Errorf("%w: secure boot needs OVMF secure-boot firmware (OVMF_CODE_4M.secboot.fd with OVMF_VARS_4M.ms.fd) in %s: install ovmf", ErrUnsatisfiable, where)
	}
	return fmt.Errorf("%w: UEFI needs OVMF firmware (OVMF_CODE_4M.fd with OVMF_VARS_4M.fd) in %s: install ovmf", ErrUnsatisfiable, where)
}

// ovmfCandidates are the paths a code image named base may have: in dir,
// or each loader libvirt lists by that name.
func ovmfCandidates(dir string, caps *hostCaps, base string) []string {
	if dir != "" {
		return []string{filepath.Join(dir, base)}
	}
	var out []string
	if caps != nil {
		for _, l := range caps.Loaders {
			if filepath.Base(l) == base {
				out = append(out, l)
			}
		}
	}
	return out
}
