#!/usr/bin/env bash
# bench-warm.sh: downtime of `migrate --warm` against a cold migration of
# the same VM (issue 17's measure).
#
# The VM's disk is the bootable test guest grown to BENCH_DISK_MIB (default
# 2048) with BENCH_DATA_MIB (default 1024) of random data behind its boot
# partition, served by the vCenter simulator's CBT double with every
# powered-on VM churning at BENCH_CHURN (default 4MiB/s). Each mode gets a
# fresh simulator, run directory and state directory:
#   cold: migrate --source-power-off (guest shutdown, full copy, package, boot)
#   warm: migrate --warm --precopy-interval BENCH_INTERVAL (default 5s)
#         --cutover-after BENCH_ROUNDS (default 3)
# Downtime runs from the source's shutdown to the pod VM: "to boot" ends
# when the runtime starts the pod VM (what the migration controls), "to
# ready" when its serial console says PODVM-READY. The churn writes random
# blocks anywhere on the disk, boot files included, so a guest may no
# longer boot: "to ready" is then "-" and the ratio uses "to boot".
# It prints both, the precopy rounds with their bytes, and the ratio warm /
# cold (aim <= 0.2). Needs root (libvirtd, as demo.sh), qemu-img and jq;
# everything is deleted on exit (BENCH_KEEP=1 keeps the files).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
DISK=${BENCH_DISK_MIB:-2048}
DATA=${BENCH_DATA_MIB:-1024}
CHURN=${BENCH_CHURN:-4MiB/s}
INTERVAL=${BENCH_INTERVAL:-5s}
ROUNDS=${BENCH_ROUNDS:-3}
pm=$BIN/podvm-migrate
te=$BIN/podvm-testenv
for t in "$pm" "$te"; do
	[[ -x $t ]] || { echo "bench-warm: $t not built (run 'make build')" >&2; exit 1; }
done
for t in qemu-img jq dd awk date; do
	command -v "$t" >/dev/null || { echo "bench-warm: $t is missing (run 'make deps')" >&2; exit 1; }
done
((DATA + 64 <= DISK)) || { echo "bench-warm: $DATA MiB of data do not fit behind the boot partition of a $DISK MiB disk" >&2; exit 1; }
log() { echo "bench-warm: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/podvm-bench-warm.XXXXXX")
chmod 755 "$work" # libvirt-qemu reads the pod VM images below it
sim=
cleanup() {
	[[ -n $sim ]] && kill "$sim" 2>/dev/null && wait "$sim" 2>/dev/null || true
	for m in cold warm; do
		[[ -f $work/$m/vm ]] && "$pm" rm --force "$(cat "$work/$m/vm")" --state-dir "$work/$m/state" >/dev/null 2>&1 || true
	done
	[[ ${BENCH_KEEP:-} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

"$te" libvirt -o json >/dev/null
"$te" image --out "$work/guest" -o json >/dev/null
log "building a $DISK MiB disk with $DATA MiB of data"
qemu-img convert -O raw "$work/guest/guest.vmdk" "$work/disk.raw"
truncate -s "${DISK}M" "$work/disk.raw"
dd if=/dev/urandom of="$work/disk.raw" bs=1M seek=64 count="$DATA" conv=notrunc status=none
qemu-img convert -O vmdk "$work/disk.raw" "$work/disk.vmdk"
rm "$work/disk.raw"

# epoch_ms TIME: RFC 3339 time to milliseconds since the epoch.
epoch_ms() { date -d "$1" +%s%3N; }
# secs A B: (B - A) in seconds from two epoch_ms values.
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# run MODE ARGS...: serves a fresh simulator, migrates one powered-on VM
# with ARGS and prints "to_boot to_ready" seconds.
run() {
	local mode=$1 dir=$work/$1
	shift
	mkdir -p "$dir/vsphere"
	"$te" vsphere --vms 7 --guest-vmdk "$work/disk.vmdk" --cbt --churn "$CHURN" --dir "$dir/vsphere" \
		--env-file "$dir/govc.env" >/dev/null 2>"$dir/vsphere.log" &
	sim=$!
	for _ in $(seq 1 300); do [[ -s $dir/govc.env ]] && break; sleep 0.2; done
	[[ -s $dir/govc.env ]] || { cat "$dir/vsphere.log" >&2; log "the simulator did not start"; exit 1; }
	(
		# shellcheck disable=SC1091
		source "$dir/govc.env"
		"$pm" discover --out "$dir/inv.json" --progress never 2>/dev/null
		"$pm" plan "$dir/inv.json" --network-map '*=pod' --storage-map '*=default' --secure-boot-firmware no \
			--out "$dir/plan.json" --format json -o json >/dev/null 2>"$dir/plan.log" || [[ $? == 3 ]]
		# A powered-on BIOS VM with one disk that the plan does not block.
		vm=$(jq -r --slurpfile inv "$dir/inv.json" '[.vms[] | select(.status != "blocked" and .spec.firmware.type == "bios"
			and (.spec.disks | length) == 1) | .name as $n
			| select(any($inv[0].vms[]; .name == $n and .state.power == "poweredOn"))][0].spec.name' "$dir/plan.json")
		[[ -n $vm && $vm != null ]] || { log "$mode: no powered-on BIOS VM with one disk in the plan"; exit 1; }
		echo "$vm" >"$dir/vm"
		log "$mode: migrating $vm"
		"$pm" migrate "$dir/plan.json" --vm "$vm" --run-dir "$dir/run" --state-dir "$dir/state" -o json \
			--probe-kernel "$work/guest/vmlinuz" --probe-initrd "$work/guest/initrd.img" --ready-timeout 90s "$@" \
			>"$dir/events.out" 2>"$dir/migrate.log" || log "$mode: migrate failed: $(tail -n 1 "$dir/migrate.log")"
	)
	kill "$sim" 2>/dev/null && wait "$sim" 2>/dev/null || true
	sim=
	# Both modes make a pod VM of the same name: remove this one.
	[[ -f $dir/vm ]] && "$pm" rm --force "$(cat "$dir/vm")" --state-dir "$dir/state" >/dev/null 2>&1 || true
	local ev=$dir/run/events.jsonl shutdown= boot ready
	if [[ $mode == warm ]]; then
		shutdown=$(jq -r 'select(.phase == "cutover" and .result == "done") | .cutover.shutdownAt' "$ev" | tail -n 1)
		jq -r 'select(.phase == "cutover" and .result == "done") | "bench-warm: warm: cutover: shutdown \(.cutover.shutdownNs / 1e9 | . * 10 | round / 10) s, final round \(.cutover.finalNs / 1e9 | . * 10 | round / 10) s, checksums \(.cutover.finishNs / 1e9 | . * 10 | round / 10) s"' "$ev" >&2
		jq -r 'select(.phase == "precopy" and .result == "done") | "bench-warm: warm: round \(.precopy.round)\(if .precopy.final then " (final)" else "" end): \(.bytes) bytes in \(.durationNs / 1e9 | . * 10 | round / 10) s"' "$ev" >&2
	else
		local qt qd
		qt=$(jq -r 'select(.phase == "quiesce" and .result == "done") | .time' "$ev" | tail -n 1)
		qd=$(jq -r 'select(.phase == "quiesce" and .result == "done") | .durationNs' "$ev" | tail -n 1)
		[[ -n $qt ]] && shutdown=$(($(epoch_ms "$qt") - qd / 1000000))
	fi
	jq -r 'select((.phase == "transfer" or .phase == "package") and .result == "done" and .durationNs > 0) | "bench-warm: '"$mode"': \(.phase) \(.durationNs / 1e9 | . * 10 | round / 10) s"' "$ev" >&2
	boot=$(jq -r 'select(.phase == "boot" and .result == "started") | .time' "$ev" | tail -n 1)
	ready=$(jq -r 'select(.phase == "ready" and .result == "done") | .time' "$ev" | tail -n 1)
	[[ -n $shutdown && -n $boot ]] || { log "$mode: no shutdown or boot in the run record"; echo "- -"; return; }
	[[ $shutdown =~ ^[0-9]+$ ]] || shutdown=$(epoch_ms "$shutdown")
	local to_ready=-
	[[ -n $ready ]] && to_ready=$(secs "$shutdown" "$(epoch_ms "$ready")")
	echo "$(secs "$shutdown" "$(epoch_ms "$boot")") $to_ready"
}

run cold --source-power-off >"$work/cold.out"
run warm --warm --precopy-interval "$INTERVAL" --cutover-after "$ROUNDS" >"$work/warm.out"
read -r cold_boot cold_ready <"$work/cold.out"
read -r warm_boot warm_ready <"$work/warm.out"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b <= 0) print "-"; else printf "%.2f", a / b }'; }
printf '%-6s %16s %17s\n' mode "downtime to boot" "downtime to ready"
printf '%-6s %15ss %16ss\n' cold "$cold_boot" "$cold_ready" warm "$warm_boot" "$warm_ready"
echo "warm / cold: $(ratio "$warm_boot" "$cold_boot") to boot, $(ratio "$warm_ready" "$cold_ready") to ready (aim <= 0.2); disk $DISK MiB, data $DATA MiB, churn $CHURN"
