#!/usr/bin/env bash
# bench-convert.sh: podvm-migrate convert disk against qemu-img convert -W -m 16
# (its fastest settings) on the same files in the same run.
#
# Builds two disks of BENCH_SIZE_MIB (default 2048) in a temporary folder:
#   mixed: half random data, half holes (64 MiB of each, alternating)
#   text:  all compressible text (half base64, half decimal numbers)
# as monolithicSparse and streamOptimized VMDK, converts each to raw and
# qcow2 with both tools, checks every target of ours with qemu-img compare,
# and prints MB/s (virtual size / wall time), the ratio qemu-img time / ours
# for our default digest (sha256-tree), for --checksum sha256 (a plain
# SHA-256 on one core) and for --checksum none, and peak RSS. Each tool runs
# BENCH_RUNS times (default 3), interleaved; for the default digest and
# qemu-img the best and the median run are printed, and the ratio of the
# best runs and the median of the ratios run by run (each run's pair ran
# back to back), since a shared machine makes single runs swing by 2-5x.
# The data is deleted on exit (BENCH_KEEP=1 keeps it).
set -euo pipefail

BIN=${BIN:-bin/podvm-migrate}
SIZE_MIB=${BENCH_SIZE_MIB:-2048}
RUNS=${BENCH_RUNS:-3}
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
# median N...: the middle value (the lower of the two middle ones).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a <= 0) a = 0.01; printf "%.2fx", b / a }'; }
less() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(b == "" || a < b) }'; }

printf '%-6s %-7s %-6s %14s %14s %14s %11s %7s %11s %7s %9s %9s %9s %s\n' DISK SOURCE TARGET "OURS_MB/s" "QEMU_MB/s" "RATIO" SHA256_MB/s RATIO NOSUM_MB/s RATIO OURS_RSS OURS_ANON QEMU_RSS COMPARE
printf '%-6s %-7s %-6s %14s %14s %14s\n' "" "" "" "best median" "best median" "best median"
peak=0
peak_anon=0
worst=""
for d in mixed text; do
	for s in sparse stream; do
		src="$work/$d-$s.vmdk"
		cat "$src" >/dev/null # every tool starts from a warm page cache
		for t in raw qcow2; do
			declare -A best=() rss=() anon=()
			ours=() theirs=() ratios=()
			cmp=identical
			for ((r = 0; r < RUNS; r++)); do
				for v in tree sha256 none qemu; do
					if [[ $v == qemu ]]; then
						read -r secs kb a < <(timed qemu-img convert -W -m 16 -f vmdk -O "$t" "$src" "$work/qemu.$t")
						rm -f "$work/qemu.$t"
					else
						sum=$v
						[[ $v == tree ]] && sum=sha256-tree
						read -r secs kb a < <(timed "$BIN" convert disk "$src" "$work/ours.$t" --format "$t" --checksum "$sum" --force --no-progress -o json)
						if [[ $v == tree && $r == 0 ]]; then
							qemu-img compare -q "$src" "$work/ours.$t" || cmp=DIFFERENT
						fi
						rm -f "$work/ours.$t"
					fi
					less "$secs" "${best[$v]:-}" && best[$v]=$secs
					[[ $v == tree ]] && ours+=("$secs")
					if [[ $v == qemu ]]; then
						theirs+=("$secs")
						ratios+=("$(awk -v a="${ours[-1]}" -v b="$secs" 'BEGIN { if (a <= 0) a = 0.01; printf "%.2f", b / a }')")
					fi
					((kb > ${rss[$v]:-0})) && rss[$v]=$kb
					((a > ${anon[$v]:-0})) && anon[$v]=$a
				done
			done
			printf '%-6s %-7s %-6s %6s %7s %6s %7s %6s %6sx %11s %7s %11s %7s %5d MiB %5d MiB %5d MiB %s\n' "$d" "$s" "$t" \
				"$(mbps "${best[tree]}")" "$(mbps "$(median "${ours[@]}")")" \
				"$(mbps "${best[qemu]}")" "$(mbps "$(median "${theirs[@]}")")" \
				"$(ratio "${best[tree]}" "${best[qemu]}")" "$(median "${ratios[@]}")" \
				"$(mbps "${best[sha256]}")" "$(ratio "${best[sha256]}" "${best[qemu]}")" \
				"$(mbps "${best[none]}")" "$(ratio "${best[none]}" "${best[qemu]}")" \
				$((rss[tree] / 1024)) $((anon[tree] / 1024)) $((rss[qemu] / 1024)) "$cmp"
			for v in tree sha256 none; do
				((rss[$v] > peak)) && peak=${rss[$v]}
				((anon[$v] > peak_anon)) && peak_anon=${anon[$v]}
			done
			[[ $cmp == identical ]] || exit 1
			unset best rss anon ours theirs ratios
		done
	done
done
echo "podvm-migrate peak RSS $((peak / 1024)) MiB, of which anonymous (heap, buffers) $((peak_anon / 1024)) MiB (aim: < 128 MiB)"
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each; MB/s = virtual bytes / wall time; RATIO = qemu-img time / ours"
echo "(best: of the best runs; median: of the runs' ratios). SHA256 and NOSUM: best runs."
echo "OURS: the default digest, sha256-tree (SHA-256 tree hash of 1 MiB leaves, on every core, holes free);"
echo "SHA256: --checksum sha256 (plain SHA-256, one core, holes included); NOSUM: --checksum none."
