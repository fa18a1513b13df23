#!/usr/bin/env bash
# ci/matrix.sh: run the suite on several kernels and write a case × kernel
# table (matrix.md, matrix.json) plus one results file per kernel.
#
# Exit: 0 when every kernel passed (failures covered by cases/known-bugs.yaml
# count as passes), 1 when any kernel had an uncovered failure, 2 on set-up
# errors. Options after -- go to every run-in-vm.sh call.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LABEL=matrix
# shellcheck source=ci/lib/kernels.sh
source "$ROOT/ci/lib/kernels.sh"

usage() {
	cat <<'USAGE'
Usage: ci/matrix.sh [--kernels "LIST" | --all] [--out DIR] [--jobs N] [-- RUN-IN-VM-OPTIONS...]

  --kernels LIST  space-separated: a Debian kernel version or series for
                  run-in-vm.sh --kernel-version (7.0 = newest 7.0.x, 7.3.4),
                  or "rc" for the newest release candidate in experimental.
                  Default: "7.0 7.1 7.2 rc 7.3" (newest of each series + rc).
                  A version with ~rc (7.3~rc7) is taken from experimental.
  --all           every Debian kernel with the feature: each upstream
                  version >= 7.0 that `ringfence vm --list-kernels
                  --experimental` lists (docs/kernel-history.md).
  --out DIR       default: ./out/matrix
  --jobs N        kernels booted at once (default 1). Under TCG each guest
                  is one host thread, so N = host cores is the fast choice:
                  ci/matrix.sh --jobs "$(nproc)". Results do not depend on N.
USAGE
}

KERNELS="7.0 7.1 7.2 rc 7.3" OUT=$ROOT/out/matrix EXTRA=() JOBS=1 ALL=
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--all) ALL=1; shift ;;
	--kernels) need_value "$1" $#; KERNELS=$2; shift 2 ;;
	--out) need_value "$1" $#; OUT=$2; shift 2 ;;
	--jobs) need_value "$1" $#; need_positive "$1" "$2"; JOBS=$2; shift 2 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "matrix: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
claim_out "$OUT"

NOBUILD=()
# --all: IORING_REGISTER_BPF_FILTER arrived in 7.0, so every listed upstream
# version from 7.0 on, oldest first.
all_kernels() {
	"$ROOT/run-in-vm.sh" "${NOBUILD[@]}" --list-kernels --experimental 2>/dev/null |
		awk 'NR > 1 { split($2, v, /[.~]/); if (v[1] + 0 >= 7) print $2 }' | sort -V -u | tr '\n' ' '
}
if [[ -n $ALL ]]; then
	set_nobuild
	KERNELS=$(all_kernels)
	[[ -n ${KERNELS// /} ]] || { echo "matrix: --all: no kernel >= 7.0 listed" >&2; exit 2; }
	echo "matrix: --all: $KERNELS" >&2
fi
set -- $KERNELS
total=$# worst=0 results=()
prepare_kernels "$@"

run_one() { # index kernel: one kernel's run; its exit code in $OUT/$k.code
	local i=$1 k=$2
	kernel_args "$k" || { echo "matrix: [$i/$total] no release candidate in experimental, skipped" >&2; echo skip >"$OUT/$k.code"; return; }
	echo "matrix: [$i/$total] kernel $k: ./run-in-vm.sh ${KARGS[*]}" >&2
	local code=0
	# An earlier run's results for this kernel go first (ringfence itself
	# refuses to replace a file that is not a ringfence results file).
	grep -qs '"tool" *: *"ringfence' "$OUT/$k.json" && rm -f "$OUT/$k.json"
	"$ROOT/run-in-vm.sh" "${KARGS[@]}" --out "$OUT/$k" --results "$OUT/$k.json" "${EXTRA[@]}" >"$OUT/$k.ktap" 2>"$OUT/$k.err" || code=$?
	echo "$code" >"$OUT/$k.code"
}

for k in "$@"; do rm -f "$OUT/$k.code"; done
run_jobs "$JOBS" run_one "$@"

# Report in the order given, whatever order the runs finished in.
i=0
for k in "$@"; do
	i=$((i + 1))
	code=$(cat "$OUT/$k.code" 2>/dev/null || echo 2)
	[[ $code == skip ]] && continue
	tail -n 2 "$OUT/$k.ktap" | sed "s/^/matrix: [$i\/$total] /" >&2
	case $code in
	0 | 4) ;;
	1) worst=1 ;;
	*) echo "matrix: [$i/$total] kernel $k: set-up error (exit $code):" >&2; sed 's/^/  /' "$OUT/$k.err" >&2; [[ $worst == 1 ]] || worst=2 ;;
	esac
	[[ -f $OUT/$k.json ]] && results+=("$OUT/$k.json")
	rm -f "$OUT/$k.code"
done

if [[ ${#results[@]} -gt 0 ]]; then
	BIN=$ROOT/.build-release/release/ringfence
	"$BIN" matrix "${results[@]}" >"$OUT/matrix.md"
	"$BIN" matrix --format json "${results[@]}" >"$OUT/matrix.json"
	echo "matrix: table in $OUT/matrix.md" >&2
	cat "$OUT/matrix.md"
fi
exit "$worst"
