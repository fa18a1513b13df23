#!/usr/bin/env bash
# ci/coverage-floor.sh LCOV_INFO: fails when io_uring/bpf_filter.c's line
# coverage in LCOV_INFO is below what docs/coverage.md records (its
# "lcov: **lines N %" line), so a change that loses coverage is seen.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# With --debug: the debug kernel's coverage run (`--build --coverage --debug`,
# the inject: cases reach the allocation-failure paths) against the
# "lcov (debug): **lines N %" line.
key="lcov"
if [[ ${1:-} == --debug ]]; then key="lcov (debug)"; shift; fi
info=${1:?usage: ci/coverage-floor.sh [--debug] LCOV_INFO}
floor=$(awk -v k="$key: **lines " 'index($0, k) == 1 { s = substr($0, length(k) + 1); sub(/ %.*/, "", s); print s; exit }' "$ROOT/docs/coverage.md")
[[ -n $floor ]] || { echo "coverage-floor: no '$key: **lines N %' line in docs/coverage.md" >&2; exit 2; }
# From the DA (line, count) records: not every lcov writes the LH/LF summary.
read -r hit found < <(awk -F'[:,]' '/^SF:.*io_uring\/bpf_filter\.c$/ { on = 1; next }
	on && /^DA:/ { f++; if ($3 + 0 > 0) h++ } /^end_of_record/ && on { print h + 0, f + 0; exit }' "$info")
[[ -n ${found:-} && $found -gt 0 ]] || { echo "coverage-floor: io_uring/bpf_filter.c is not in $info" >&2; exit 1; }
pct=$(awk -v h="$hit" -v f="$found" 'BEGIN { printf "%.1f", 100 * h / f }')
if awk -v p="$pct" -v fl="$floor" 'BEGIN { exit !(p + 0.05 < fl) }'; then
	echo "coverage-floor: io_uring/bpf_filter.c lines $pct % ($hit of $found) is below the recorded $floor % (docs/coverage.md)" >&2
	exit 1
fi
echo "coverage-floor: io_uring/bpf_filter.c lines $pct % ($hit of $found), recorded floor $floor %"
