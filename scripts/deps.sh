#!/usr/bin/env bash
# Installs (or with --check, only checks for) the Debian packages that
# podvm-migrate's build, tests and demo use. Run as root on Debian 12.
set -euo pipefail

packages=(
  gcc pkg-config git make libdeflate-dev       # cgo build (libdeflate: fast grain inflation)
  libvirt-dev libvirt-daemon-system libvirt-clients  # runtime over libvirt
  qemu-system-x86 qemu-utils ovmf              # QEMU, qemu-img, UEFI firmware
  syslinux syslinux-common syslinux-efi mtools dosfstools fdisk busybox-static cpio  # test guest
  etcd-server skopeo umoci docker-registry     # Kubernetes API server, OCI images and registry
  dnsmasq-base iptables                        # DHCP and NAT of libvirt networks (libvirt:default)
  iproute2 time jq                              # network namespaces, GNU time (peak RSS) and jq (run records) for benchmarks
  chromium                                      # renders the HTML report in tests
  debootstrap e2fsprogs grub-pc-bin             # the Debian 12 test guest (podvm-testenv debian)
  virt-v2v libguestfs-tools nbdkit              # guest conversion (virt-v2v-in-place) and inspection
  linux-image-cloud-amd64                       # a kernel in /boot for libguestfs' appliance (supermin)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ "${1:-}" == "--check" ]]; then
  if ((${#missing[@]})); then
    echo "missing Debian packages: ${missing[*]} (run 'make deps')" >&2
    exit 1
  fi
  exit 0
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# supermin copies the host's kernel modules under /lib/modules, which a
# container without a kernel lacks.
[[ -d /lib/modules ]] || mkdir -p /lib/modules 2>/dev/null || true

# The test guest's kernel is fetched with apt-get download, which needs the
# package lists even when nothing above was missing.
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
  apt-get update -qq
fi
echo "deps: all Debian packages present"
