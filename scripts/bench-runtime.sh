#!/usr/bin/env bash
# Pod VM boot to readiness: `podvm-migrate run --wait-ready` (libvirt) against
# a bare qemu-system-x86_64 with the same disk, kernel, memory, NIC and
# accelerator; then `run --fast` (direct kernel boot). RUNS runs of each,
# interleaved so a busy machine slows all of them alike. Prints medians,
# ratios and the QEMU memory (RSS at readiness) of each. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BIN=${BIN:-bin}
CMDLINE="console=ttyS0,115200 quiet panic=-1"
READY=PODVM-READY

work=$(mktemp -d /tmp/podvm-bench-runtime-XXXXXX)
chmod 755 "$work"
state=$work/state
pm() { "$BIN/podvm-migrate" --log-level warn "$@" --state-dir "$state"; }
pods=()
cleanup() {
  for p in "${pods[@]}"; do pm rm --force "$p" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$BIN/podvm-testenv" libvirt -o json >/dev/null
"$BIN/podvm-testenv" image --out "$work/guest" -o json >/dev/null 2>&1
chmod 755 "$work/guest"
kernel=$work/guest/vmlinuz initrd=$work/guest/initrd.img
image=oci:$work/layout:bench
"$BIN/podvm-migrate" --log-level warn image build "$work/guest/guest.raw" --to "$image" \
  --kernel "$kernel" --initrd "$initrd" --cmdline "$CMDLINE" -o json >/dev/null

# Warm-up (not counted): unpacks the image into the store, settles the
# accelerator (smoke boot, cached) and warms libvirt's QEMU capabilities.
pods+=(bench-warm)
warm=$(pm run "$image" --name bench-warm --wait-ready -o json)
pm rm --force bench-warm >/dev/null
accel=$(grep -o '"accel": *"[a-z]*"' <<<"$warm" | head -1 | sed 's/.*"\([a-z]*\)"$/\1/')
reason=$(grep -o '"accelReason": *"[^"]*"' <<<"$warm" | sed 's/"accelReason": *//; s/\\u003e/>/g; s/\\u003c/</g; s/\\u0026/\&/g')
mem=$(grep -o '"memoryMiB": *[0-9]*' <<<"$warm" | grep -o '[0-9]*$')
disk=$(ls "$state"/images/*/disk0.qcow2)

# qemu_mem PID: "RSS overhead" in MiB, where overhead is the RSS outside the
# guest RAM mapping (what QEMU itself costs per pod VM).
qemu_mem() {
  awk -v ram=$((mem * 1024)) '/^Size:/ {s = $2} /^Rss:/ {t += $2; if (s >= ram) g += $2}
    END {printf "%d %d", t / 1024, (t - g) / 1024}' "/proc/$1/smaps" 2>/dev/null || echo "0 0"
}

# bare [extra qemu args...]: prints "ms rss overhead"
bare() {
  local start end=0 pid line rss="0 0"
  start=$(date +%s%N)
  coproc QEMU { exec qemu-system-x86_64 -nodefaults -display none -no-user-config -machine q35 -accel "$accel" \
    -m "$mem" -smp 1 -drive "file=$disk,if=none,id=d0,format=qcow2,snapshot=on" \
    -device virtio-blk-pci,drive=d0,bootindex=1 -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
    -serial stdio "$@" 2>/dev/null; }
  pid=$QEMU_PID
  while IFS= read -r line <&"${QEMU[0]}"; do
    if [[ $line == *"$READY"* ]]; then
      end=$(date +%s%N)
      rss=$(qemu_mem "$pid")
      break
    fi
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$(( (end - start) / 1000000 )) $rss"
}

# viarun NAME [run flags...]: prints "ms rss overhead"
viarun() {
  local name=$1 start end out pid rss
  shift
  pods+=("$name")
  start=$(date +%s%N)
  out=$(pm run "$image" --name "$name" --accel "$accel" --wait-ready -o json "$@")
  end=$(date +%s%N)
  pid=$(pm list -o json | tr -d ' \n' | grep -o "\"name\":\"$name\"[^}]*\"pid\":[0-9]*" | grep -o '[0-9]*$' || echo 0)
  rss=$(qemu_mem "$pid")
  pm rm --force "$name" >/dev/null
  echo "$(( (end - start) / 1000000 )) $rss"
}

declare -A t r o
for i in $(seq 1 "$RUNS"); do
  read -r ms rss ovh < <(bare); t[bare]+="$ms "; r[bare]+="$rss "; o[bare]+="$ovh "
  read -r ms rss ovh < <(viarun "bench-run-$i"); t[run]+="$ms "; r[run]+="$rss "; o[run]+="$ovh "
  read -r ms rss ovh < <(bare -kernel "$kernel" -initrd "$initrd" -append "$CMDLINE"); t[bare_kernel]+="$ms "; r[bare_kernel]+="$rss "; o[bare_kernel]+="$ovh "
  read -r ms rss ovh < <(viarun "bench-fast-$i" --fast); t[fast]+="$ms "; r[fast]+="$rss "; o[fast]+="$ovh "
done

best() { tr ' ' '\n' <<<"$1" | grep . | sort -n | head -1; }
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
secs() { awk -v ms="$1" 'BEGIN {printf "%.2fs", ms/1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }

mb=$(median "${t[bare]}")
echo "pod VM boot to $READY, $RUNS runs each, accelerator $accel ($reason), guest RAM $mem MiB, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
bb=$(best "${t[bare]}")
row() { printf '%-42s %7s %6s %7s %6s  %s\n' "$@"; }
row "path" "median" "ratio" "best" "ratio" "runs (ms)"
row "bare qemu-system-x86_64, disk (SeaBIOS)" "$(secs "$mb")" "1.00x" "$(secs "$bb")" "1.00x" "${t[bare]}"
for k in run bare_kernel fast; do
  case $k in
    run) label="podvm-migrate run (libvirt), disk" ;;
    bare_kernel) label="bare qemu-system-x86_64 -kernel" ;;
    fast) label="podvm-migrate run --fast (direct kernel)" ;;
  esac
  m=$(median "${t[$k]}"); b=$(best "${t[$k]}")
  row "$label" "$(secs "$m")" "$(ratio "$m" "$mb")" "$(secs "$b")" "$(ratio "$b" "$bb")" "${t[$k]}"
done
echo "QEMU memory at readiness (medians, MiB; guest RAM $mem MiB; overhead = RSS outside the guest RAM mapping):"
printf '  %-14s %6s %9s %s\n' "" "RSS" "overhead" "RSS minus guest RAM"
for k in bare run bare_kernel fast; do
  rss=$(median "${r[$k]}"); ovh=$(median "${o[$k]}")
  printf '  %-14s %6s %9s %s\n' "$k" "$rss" "$ovh" "$((rss - mem))"
done
echo "per-pod-VM overhead of the runtime over bare QEMU: $(( $(median "${o[run]}") - $(median "${o[bare]}") )) MiB"
