#!/usr/bin/env bash
# fuzz.sh: runs every Fuzz* target of the repository in turn, each for
# FUZZTIME (default 30s), and prints a summary line per target with its
# executions. Targets are found by grepping *_test.go files (cheaper than
# building every test binary for `go test -list`). The seed corpus and
# testdata/fuzz/ entries run first, as with any -fuzz run; a failure stops
# the script with go's message, and the input that failed is kept under the
# package's testdata/fuzz/.
#
#   FUZZTIME=10m scripts/fuzz.sh        # or: make fuzz FUZZTIME=10m
#   FUZZ_TAGS='tag1 tag2' scripts/fuzz.sh
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
# Shrinking a large new input may take the whole FUZZTIME otherwise.
TAGS=${FUZZ_TAGS:-}

mapfile -t targets < <(git ls-files --cached --others --exclude-standard '*_test.go' | xargs grep -Ho '^func Fuzz[A-Za-z0-9_]*(' |
	sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#./\1 \2#; s#^[^./][^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#. \1#' | sort -u)
if [ ${#targets[@]} -eq 0 ]; then
	echo "no Fuzz targets found" >&2
	exit 1
fi
echo "== ${#targets[@]} fuzz targets, $FUZZTIME each"
summary=()
for t in "${targets[@]}"; do
	pkg=${t% *} name=${t#* }
	echo "== $pkg $name"
	log=$(mktemp)
	if ! $GO test -tags "$TAGS" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "${FUZZMINIMIZETIME:-5s}" "$pkg" 2>&1 | tee "$log"; then
		rm -f "$log"
		echo "FAIL: $pkg $name" >&2
		exit 1
	fi
	last=$(grep -o 'execs: [0-9]*' "$log" | tail -1 || true)
	rm -f "$log"
	summary+=("$(printf '%-28s %-24s %s' "$pkg" "$name" "${last:-execs: ?}")")
done
echo "== summary ($FUZZTIME each)"
printf '%s\n' "${summary[@]}"
