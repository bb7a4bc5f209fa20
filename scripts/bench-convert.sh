#!/usr/bin/env bash
# bench-convert.sh: podvm-migrate convert disk against qemu-img convert -W -m 16
# (its fastest settings) on the same files in the same run.
#
# Builds two disks of BENCH_SIZE_MIB (default 2048) in a temporary folder:
#   mixed: half random data, half holes (64 MiB of each, alternating)
#   text:  all compressible text (half base64, half decimal numbers)
# as monolithicSparse and streamOptimized VMDK, converts each to raw and
# qcow2 with both tools, checks every target of ours with qemu-img compare,
# and prints MB/s (virtual size / wall time), our/qemu-img ratio (with and
# without the SHA-256 of the guest bytes) and peak
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

# timed CMD... : runs CMD under /usr/bin/time; prints "seconds maxrss_kib
# peak_anon_kib". Max RSS counts the pages of the executable too (podvm-migrate
# links Kubernetes and containers/image: ~80 MiB of them), so the peak of
# RssAnon (heap, stacks, buffers) is sampled from /proc as well.
timed() {
	sync
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" &
	local pid=$! anon=0 a c
	while kill -0 "$pid" 2>/dev/null; do
		for c in $(pgrep -P "$pid"); do
			a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$c/status" 2>/dev/null || echo 0)
			((${a:-0} > anon)) && anon=$a
		done
		sleep 0.05
	done
	wait "$pid" || {
		cat "$work/stderr" >&2
		return 1
	}
	echo "$(cat "$work/time") $anon"
}

mbps() { awk -v b="$size" -v s="$1" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", b / 1e6 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0) a = 0.01; printf "%.2fx", b / a }'; }

printf '%-6s %-7s %-6s %9s %9s %7s %11s %7s %9s %9s %9s %s\n' DISK SOURCE TARGET OURS_MB/s QEMU_MB/s RATIO NOSUM_MB/s RATIO OURS_RSS OURS_ANON QEMU_RSS COMPARE
peak=0
peak_anon=0
for d in mixed text; do
	for s in sparse stream; do
		src="$work/$d-$s.vmdk"
		cat "$src" >/dev/null # every tool starts from a warm page cache
		for t in raw qcow2; do
			read -r ours_s ours_kb ours_anon < <(timed "$BIN" convert disk "$src" "$work/ours.$t" --format "$t" --force --no-progress -o json)
			cmp=identical
			qemu-img compare -q "$src" "$work/ours.$t" || cmp=DIFFERENT
			rm -f "$work/ours.$t"
			read -r nosum_s _ _ < <(timed "$BIN" convert disk "$src" "$work/ours.$t" --format "$t" --checksum=false --no-progress -o json)
			rm -f "$work/ours.$t"
			read -r qemu_s qemu_kb _ < <(timed qemu-img convert -W -m 16 -f vmdk -O "$t" "$src" "$work/qemu.$t")
			rm -f "$work/qemu.$t"
			printf '%-6s %-7s %-6s %9s %9s %7s %11s %7s %5d MiB %5d MiB %5d MiB %s\n' "$d" "$s" "$t" \
				"$(mbps "$ours_s")" "$(mbps "$qemu_s")" "$(ratio "$ours_s" "$qemu_s")" \
				"$(mbps "$nosum_s")" "$(ratio "$nosum_s" "$qemu_s")" \
				$((ours_kb / 1024)) $((ours_anon / 1024)) $((qemu_kb / 1024)) "$cmp"
			((ours_kb > peak)) && peak=$ours_kb
			((ours_anon > peak_anon)) && peak_anon=$ours_anon
			[[ $cmp == identical ]] || exit 1
		done
	done
done
echo "podvm-migrate peak RSS $((peak / 1024)) MiB, of which anonymous (heap, buffers) $((peak_anon / 1024)) MiB (aim: < 128 MiB)"
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); MB/s = virtual bytes / wall time; RATIO = qemu-img time / ours;"
echo "NOSUM = podvm-migrate --checksum=false (no SHA-256 of the guest bytes, which takes one core at ~1.7 GB/s)"
