#!/usr/bin/env bash
# The end-to-end demo on the built-in test environment. Run by `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo
SECONDS=0

echo "== Building the test guest (raw, VMDK, streamOptimized VMDK, VMX, OVF, OVA) into $out/guest"
bin/podvm-testenv image --out "$out/guest"

echo
echo "== Booting it under bare QEMU until it prints its readiness line"
for disk in guest.raw guest.vmdk guest-stream.vmdk; do
  echo "-- $disk (BIOS)"
  bin/podvm-testenv boot "$out/guest/$disk"
done
echo "-- guest.vmdk (UEFI)"
bin/podvm-testenv boot --firmware efi "$out/guest/guest.vmdk"

echo
echo "demo finished in ${SECONDS}s"
