#!/usr/bin/env bash
# The end-to-end demo on the built-in test environment, run by `make demo`:
# a vCenter simulator whose VMs boot the test guest, then discover, plan,
# migrate to the included KVM pod-VM runtime, and the HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
out=demo
pm=bin/podvm-migrate
te=bin/podvm-testenv
vms=${DEMO_VMS:-6}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$out/run" "$out/vsphere" "$out/inventory.json" "$out/plan.yaml" "$out/govc.env"
mkdir -p "$out/vsphere"
chmod 755 "$out"   # libvirt-qemu reads the pod VM images below it

step "1. Building the bootable test guest (raw, VMDK, stream VMDK, VMX, OVF, OVA) into $out/guest"
$te image --out "$out/guest" -o table

step "2. Starting libvirtd"
$te libvirt -o table

step "3. Serving a vCenter simulator with $vms VMs whose disks are the test guest"
$te vsphere --vms "$vms" --guest-vmdk "$out/guest/guest.vmdk" --dir "$out/vsphere" --env-file "$out/govc.env" \
  >/dev/null 2>"$out/vsphere.log" &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$out/govc.env" ] && break; sleep 0.2; done
[ -s "$out/govc.env" ] || { cat "$out/vsphere.log"; echo "the simulator did not start" >&2; exit 1; }
# shellcheck disable=SC1090
source "$out/govc.env"
echo "vCenter at $GOVC_URL (certificate pinned via GOVC_TLS_CA_CERTS)"

step "4. Discovering the VMs"
$pm discover --out "$out/inventory.json" --progress never
$pm discover -o table --progress never > "$out/inventory.txt"
cat "$out/inventory.txt"

step "5. Planning: compatibility rules and the pod VM spec of each VM"
# The test guest's boot loader is unsigned, so secure-boot VMs are planned as
# blocked (no secure-boot firmware assumed), as they would be on such a target.
set +e
$pm plan "$out/inventory.json" --network-map '*=pod' --storage-map '*=default' --secure-boot-firmware no \
  --out "$out/plan.yaml" -o table
rc=$?
set -e
[ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc
echo "(exit code $rc: 3 means some VMs are blocked; the others migrate)"

step "6. Migrating every VM that is not blocked to the included KVM pod-VM runtime"
set +e
# The test guest's kernel smoke-tests KVM once (the outcome cached per host kernel); TCG runs when KVM
# does not really work. Relative probe paths are fine: podvm-migrate resolves them before libvirt sees them.
# --source-power-off shuts each running source VM down before its disks are
# read, so the copy is consistent (the plan warns about powered-on VMs).
$pm migrate "$out/plan.yaml" --run-dir "$out/run" --parallel 2 --log-level warn -o table --source-power-off \
  --probe-kernel "$out/guest/vmlinuz" --probe-initrd "$out/guest/initrd.img"
rc=$?
set -e

step "7. The pod VMs"
$pm list -o table

step "8. The report"
$pm report "$out/run" --format md --out "$out/run/report.md" >/dev/null
report=$($pm report "$out/run" --format html)
echo "HTML report: $(realpath "$report")"
echo "demo finished in ${SECONDS}s (migrate exit code $rc); remove the pod VMs with: $pm rm -f NAME"
exit $rc
