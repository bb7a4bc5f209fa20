#!/usr/bin/env bash
# bench-convert.sh: podvm-migrate convert disk against qemu-img convert -W -m 16
# (its fastest settings) on the same files in the same run.
#
# Builds two disks of BENCH_SIZE_MIB (default 2048) in a temporary folder:
#   mixed: half random data, half holes (64 MiB of each, alternating)
#   text:  all compressible text (half base64, half decimal numbers)
# as monolithicSparse and streamOptimized VMDK, converts each to raw and
# qcow2 with both tools, checks every target of ours with qemu-img compare,
# and prints MB/s (virtual size / wall time), our/qemu-img ratio and peak
# RSS. The data is deleted on exit (BENCH_KEEP=1 keeps it).
set -euo pipefail

BIN=${BIN:-bin/podvm-migrate}
SIZE_MIB=${BENCH_SIZE_MIB:-2048}
[[ -x $BIN ]] || { echo "bench-convert: $BIN not built (run 'make build')" >&2; exit 1; }
for t in qemu-img /usr/bin/time base64 seq; do
	command -v "$t" >/dev/null || { echo "bench-convert: $t is missing (run 'make deps')" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/podvm-bench.XXXXXX")
if [[ ${BENCH_KEEP:-} != 1 ]]; then trap 'rm -rf "$work"' EXIT; fi
size=$((SIZE_MIB << 20))
half=$((SIZE_MIB / 2))

log() { echo "bench-convert: $*" >&2; }

log "building ${SIZE_MIB} MiB disks in $work"
truncate -s "$size" "$work/mixed.raw"
for ((m = 0; m < SIZE_MIB; m += 128)); do
	dd if=/dev/urandom of="$work/mixed.raw" bs=1M count=64 seek=$m conv=notrunc status=none
done
{
	base64 -w 76 /dev/urandom | head -c $((half << 20)) || true
	seq 1 999999999 | head -c $(((SIZE_MIB - half) << 20)) || true
} >"$work/text.raw"
for d in mixed text; do
	qemu-img convert -f raw -O vmdk "$work/$d.raw" "$work/$d-sparse.vmdk"
	qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$work/$d.raw" "$work/$d-stream.vmdk"
	rm "$work/$d.raw"
done

# timed CMD... : runs CMD under /usr/bin/time; prints "seconds maxrss_kib".
timed() {
	sync
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
		cat "$work/stderr" >&2
		return 1
	}
	cat "$work/time"
}

mbps() { awk -v b="$size" -v s="$1" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", b / 1e6 / s }'; }

printf '%-7s %-7s %-6s %10s %10s %7s %9s %9s %s\n' DISK SOURCE TARGET OURS_MB/s QEMU_MB/s RATIO OURS_RSS QEMU_RSS COMPARE
peak=0
for d in mixed text; do
	for s in sparse stream; do
		src="$work/$d-$s.vmdk"
		cat "$src" >/dev/null # both tools start from a warm page cache
		for t in raw qcow2; do
			read -r ours_s ours_kb < <(timed "$BIN" convert disk "$src" "$work/ours.$t" --format "$t" --force --no-progress -o json)
			cmp=identical
			qemu-img compare -q "$src" "$work/ours.$t" || cmp=DIFFERENT
			rm -f "$work/ours.$t"
			read -r qemu_s qemu_kb < <(timed qemu-img convert -W -m 16 -f vmdk -O "$t" "$src" "$work/qemu.$t")
			rm -f "$work/qemu.$t"
			ratio=$(awk -v a="$ours_s" -v b="$qemu_s" 'BEGIN { if (a <= 0) a = 0.01; printf "%.2f", b / a }')
			printf '%-7s %-7s %-6s %10s %10s %6sx %6d MiB %6d MiB %s\n' "$d" "$s" "$t" "$(mbps "$ours_s")" "$(mbps "$qemu_s")" \
				"$ratio" $((ours_kb / 1024)) $((qemu_kb / 1024)) "$cmp"
			((ours_kb > peak)) && peak=$ours_kb
			[[ $cmp == identical ]] || exit 1
		done
	done
done
echo "peak RSS of podvm-migrate: $((peak / 1024)) MiB (aim: < 128 MiB); $(nproc) cores; MB/s = virtual bytes / wall time"
