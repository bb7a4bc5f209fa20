#!/usr/bin/env bash
# bench-pipeline.sh: the whole `podvm-migrate migrate` of a one-VM plan
# against `convert disk` alone and `qemu-img convert -W -m 16`, at real disk
# sizes, in one run (issue 15's table).
#
# For each size in BENCH_SIZES (MiB, default "4096 16384") it builds a disk
# holding the bootable test guest in its first 64 MiB and data in half of
# the rest (stripes of 64 MiB random bytes and 64 MiB base64 text between
# 128 MiB holes), as a streamOptimized VMDK (what an NFC export serves) and a
# monolithicSparse one. For each source, BENCH_RUNS times (default 1),
# interleaved, from a warm page cache:
#   convert:  podvm-migrate convert disk SRC DST.qcow2 (defaults: sha256-tree)
#   qemu-img: qemu-img convert -W -m 16 -f vmdk -O qcow2 SRC DST.qcow2
#   migrate:  discover --vmx (a VMX naming SRC), plan, then
#             migrate --target runtime --guest-conversion never, under
#             /usr/bin/time -v, in a fresh run dir; the state dir is the
#             host's, kept between runs like /var/lib/podvm-migrate with
#             its accelerator verdict (the once-per-host KVM smoke boot is
#             made before the first run, not timed), its image store
#             emptied after each run
# It prints the medians: each migrate phase from the run record (report
# --format csv), the ratio (transfer + package + boot) / convert alone (aim
# <= 1.3), the bytes the migrate left on disk (du of run dir + state dir)
# against the qcow2's size (aim <= 1.5) and migrate's peak RSS (aim <= 256
# MiB). Needs root (libvirtd, as demo.sh), qemu-img and about 3.5x the
# largest size free under TMPDIR; everything is deleted on exit
# (BENCH_KEEP=1 keeps the files).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
SIZES=${BENCH_SIZES:-4096 16384}
RUNS=${BENCH_RUNS:-1}
pm=$BIN/podvm-migrate
for t in "$pm" "$BIN/podvm-testenv"; do
	[[ -x $t ]] || { echo "bench-pipeline: $t not built (run 'make build')" >&2; exit 1; }
done
for t in qemu-img /usr/bin/time base64 du df awk; do
	command -v "$t" >/dev/null || { echo "bench-pipeline: $t is missing (run 'make deps')" >&2; exit 1; }
done
log() { echo "bench-pipeline: $*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/podvm-bench-pipeline.XXXXXX")
chmod 755 "$work" # libvirt-qemu reads the pod VM images below it
pods=()
state=$work/state
cleanup() {
	for p in "${pods[@]}"; do "$pm" rm --force "$p" --state-dir "$state" >/dev/null 2>&1 || true; done
	[[ ${BENCH_KEEP:-} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT

largest=0
for s in $SIZES; do ((s > largest)) && largest=$s; done
need=$((largest * 7 / 2))
free=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
if ((free < need)); then
	echo "bench-pipeline: $work has $free MiB free, a $largest MiB disk needs about $need MiB (set BENCH_SIZES)" >&2
	exit 1
fi

"$BIN/podvm-testenv" libvirt -o json >/dev/null
"$BIN/podvm-testenv" image --out "$work/guest" -o json >/dev/null
chmod 755 "$work/guest"
# The host's accelerator verdict, once, as a host's state dir keeps it.
"$pm" run "$work/guest/guest.raw" --name "bench-pipeline-$$-probe" --state-dir "$state" \
	--probe-kernel "$work/guest/vmlinuz" --probe-initrd "$work/guest/initrd.img" -o json >/dev/null 2>"$work/stderr" ||
	{ cat "$work/stderr" >&2; exit 1; }
"$pm" rm --force "bench-pipeline-$$-probe" --state-dir "$state" >/dev/null
rm -rf "$state/images"

# median N...: the middle value (the lower of the two middle ones).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# secs CMD...: runs CMD; prints its wall seconds.
secs() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; return 1; }
	t1=$(date +%s%N)
	awk -v n=$((t1 - t0)) 'BEGIN { printf "%.2f", n / 1e9 }'
}
# column CSV NAME: the value of column NAME in the first row of CSV.
column() {
	awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next } NR == 2 { print (c ? $c : "") }' "$1"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else printf "%.2f", a / b }'; }

# migrate_once SRC NAME: migrates a one-VM plan whose VMX names SRC; prints
# "transfer package boot ready total bytes_written peak_rss_kib".
migrate_once() {
	local src=$1 name=$2 dir=$work/$2
	mkdir -p "$dir"
	# discover reads only disks in the VM's own folder: link the source in.
	ln -f "$src" "$dir/disk.vmdk"
	sed -e "s/^displayName = .*/displayName = \"$name\"/" -e "s|^scsi0:0.fileName = .*|scsi0:0.fileName = \"disk.vmdk\"|" \
		"$work/guest/guest.vmx" >"$dir/vm.vmx"
	"$pm" discover --vmx "$dir/vm.vmx" --out "$dir/inventory.json" --progress never >/dev/null 2>"$work/stderr" ||
		{ cat "$work/stderr" >&2; return 1; }
	local rc=0
	"$pm" plan "$dir/inventory.json" --network-map '*=pod' --storage-map '*=default' --out "$dir/plan.yaml" \
		-o json >/dev/null 2>"$work/stderr" || rc=$?
	((rc == 0 || rc == 3)) || { cat "$work/stderr" >&2; return 1; }
	sync
	pods+=("$name")
	/usr/bin/time -v -o "$dir/time" "$pm" migrate "$dir/plan.yaml" --target runtime --guest-conversion never \
		--run-dir "$dir/run" --state-dir "$state" --log-level warn -o json \
		--probe-kernel "$work/guest/vmlinuz" --probe-initrd "$work/guest/initrd.img" >/dev/null 2>"$work/stderr" ||
		{ cat "$work/stderr" >&2; return 1; }
	"$pm" report "$dir/run" --format csv --out "$dir/report.csv" >/dev/null
	local c=$dir/report.csv written rss
	[[ $(column "$c" run_status) == ready ]] || { log "$name: $(column "$c" run_status): $(column "$c" error)"; return 1; }
	written=$(du -s --block-size=1 "$dir/run" "$state" | awk '{ n += $1 } END { print n }')
	rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$dir/time")
	"$pm" rm --force "$name" --state-dir "$state" >/dev/null 2>&1 || true
	rm -rf "$state/images"
	echo "$(column "$c" transfer_seconds) $(column "$c" package_seconds) $(column "$c" boot_seconds)" \
		"$(column "$c" ready_seconds) $(column "$c" total_seconds) $written $rss"
	rm -rf "$dir"
}

printf '%-6s %-7s %8s %8s %6s | %8s %8s %8s %8s %8s %9s | %9s %9s %6s %8s\n' \
	DISK SOURCE CONVERT QEMU-IMG RATIO TRANSFER PACKAGE BOOT READY TOTAL "T+P+B/CV" QCOW2_MiB WRITTEN W/QCOW2 PEAK_RSS
for size in $SIZES; do
	raw=$work/disk.raw
	log "building a $size MiB disk in $work"
	truncate -s "${size}M" "$raw"
	dd if="$work/guest/guest.raw" of="$raw" bs=1M conv=notrunc,sparse status=none
	for ((m = 64; m + 128 <= size; m += 256)); do
		dd if=/dev/urandom of="$raw" bs=1M count=64 seek=$m conv=notrunc status=none
		{ base64 -w 76 /dev/urandom | head -c $((64 << 20)) || true; } |
			dd of="$raw" bs=1M count=64 seek=$((m + 64)) iflag=fullblock conv=notrunc status=none
	done
	qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$raw" "$work/stream.vmdk"
	qemu-img convert -f raw -O vmdk "$raw" "$work/sparse.vmdk"
	rm "$raw"
	for src in stream sparse; do
		vmdk=$work/$src.vmdk
		cv=() qm=() tr=() pk=() bt=() rd=() tt=() wr=() rs=()
		qsize=0
		for ((r = 0; r < RUNS; r++)); do
			cat "$vmdk" >/dev/null
			sync
			cv+=("$(secs "$pm" convert disk "$vmdk" "$work/ours.qcow2" --force --no-progress -o json)")
			qsize=$(du -s --block-size=1 "$work/ours.qcow2" | awk '{ print $1 }')
			rm -f "$work/ours.qcow2"
			cat "$vmdk" >/dev/null
			sync
			qm+=("$(secs qemu-img convert -W -m 16 -f vmdk -O qcow2 "$vmdk" "$work/qemu.qcow2")")
			rm -f "$work/qemu.qcow2"
			cat "$vmdk" >/dev/null
			migrate_once "$vmdk" "bench-pipeline-$$-$size-$src-$r" >"$work/result"
			read -r t p b rdy tot w rss <"$work/result"
			tr+=("$t") pk+=("$p") bt+=("$b") rd+=("$rdy") tt+=("$tot") wr+=("$w") rs+=("$rss")
		done
		c=$(median "${cv[@]}") t=$(median "${tr[@]}") p=$(median "${pk[@]}") b=$(median "${bt[@]}")
		w=$(median "${wr[@]}")
		printf '%-6s %-7s %7ss %7ss %5sx | %7ss %7ss %7ss %7ss %7ss %8sx | %9d %5d MiB %5sx %4d MiB\n' \
			"${size}M" "$src" "$c" "$(median "${qm[@]}")" "$(div "$(median "${qm[@]}")" "$c")" \
			"$t" "$p" "$b" "$(median "${rd[@]}")" "$(median "${tt[@]}")" \
			"$(awk -v t="$t" -v p="$p" -v b="$b" -v c="$c" 'BEGIN { if (c <= 0) print "-"; else printf "%.2f", (t + p + b) / c }')" \
			$((qsize >> 20)) $((w >> 20)) "$(div "$w" "$qsize")" $(($(median "${rs[@]}") / 1024))
	done
	rm -f "$work/stream.vmdk" "$work/sparse.vmdk"
done
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); median of $RUNS run(s); RATIO = qemu-img time / convert time;"
echo "T+P+B/CV = (transfer + package + boot) / convert alone (aim <= 1.3); W/QCOW2 = du of run dir + state dir / the qcow2 (aim <= 1.5);"
echo "PEAK_RSS = migrate's maximum RSS (aim <= 256 MiB). Phases come from the run record (podvm-migrate report --format csv)."
