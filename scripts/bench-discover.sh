#!/usr/bin/env bash
# bench-discover.sh: podvm-migrate discover -o json against the govc commands
# people use today (find / -type m, ls -json, vm.info -json over every VM),
# all against one govmomi vCenter simulator with BENCH_VMS (default 5000) VMs
# whose disks are real files. Prints wall time, the ratio to podvm-migrate,
# HTTP round trips (counted by the simulator) and peak RSS (GNU time), on the
# host and again through a link with BENCH_RTT (default 20ms) added: a network
# namespace with tc netem where the kernel has it, a delaying loopback proxy
# otherwise. govc is built from the pinned govmomi module
# (tools/govc). The simulator's files are deleted on exit.
set -euo pipefail

BIN=${BIN:-bin/podvm-migrate}
[[ -x $BIN ]] || { echo "bench-discover: $BIN not built (run 'make build')" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-discover: /usr/bin/time is missing (run 'make deps')" >&2; exit 1; }
TAGS=${TAGS:-containers_image_openpgp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper}
exec go run -tags "$TAGS" ./tools/discoverbench \
	--vms "${BENCH_VMS:-5000}" --rtt "${BENCH_RTT:-20ms}" --podvm-migrate "$BIN" \
	${BENCH_SKIP_VM_INFO:+--skip-vm-info}
