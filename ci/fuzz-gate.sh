#!/usr/bin/env bash
# ci/fuzz-gate.sh: differential fuzzing (ringfence fuzz, model vs kernel) as a CI
# gate on every matrix kernel: a fixed seed per kernel, a fixed time each. Prints
# each kernel's seed, cases reached, mismatches and rate; every mismatch line the
# fuzzer printed (first differing event, how often it reproduced) is repeated,
# and the kernel's longest CQE wait per kernel.
#
# Known kernel departures are not listed here: the model follows the running
# kernel's flavour (ringfence fuzz --flavour auto, KernelSemantics.of(kernel:)),
# and each flavour switch is a cited entry of cases/known-bugs.yaml with its
# kernel range (docs/model-and-fuzzing.md). So any mismatch the fuzzer reports,
# flaky or not, is one no known bug explains, and fails the gate.
#
# Exit: 0 when every kernel fuzzed for the whole time with 0 mismatches, 1 when
# any kernel had a mismatch, 2 on set-up errors (a kernel that could not be
# fetched or booted, a fuzz run that did not finish, a kernel without the
# feature). Options after -- go to every run-in-vm.sh call.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LABEL=fuzz-gate
# shellcheck source=ci/lib/kernels.sh
source "$ROOT/ci/lib/kernels.sh"

usage() {
	cat <<'USAGE'
Usage: ci/fuzz-gate.sh [--kernels "LIST"] [--seeds "LIST"] [--time T] [--fuzz-args "ARGS"] [--out DIR] [--jobs N] [-- RUN-IN-VM-OPTIONS...]

  --kernels LIST  as ci/matrix.sh: Debian versions or series, "rc" for the
                  newest release candidate. Default: "7.0 7.1 7.2 rc 7.3".
  --seeds LIST    one seed per kernel, in the same order (the last one is
                  reused if the list is shorter). Default: "2301 2302 2303 2304 2305".
  --time T        how long each kernel fuzzes (ringfence fuzz --time; whole s, m
                  or h). Default: 30s. The VM gets --timeout T + 300 s unless
                  RUN-IN-VM-OPTIONS give one.
  --fuzz-args A   more options for ringfence fuzz in the guest, e.g.
                  "--flavour upstream" (a model that is wrong for 7.0.x: how
                  the gate was made to fail on purpose, docs/model-and-fuzzing.md).
  --out DIR       default: ./out/fuzz-gate (one KTAP and one stderr log per kernel).
  --jobs N        kernels booted at once (default 1); under TCG each guest is
                  one host thread. Cases reached depend on N (and on load),
                  verdicts do not.
USAGE
}

KERNELS="7.0 7.1 7.2 rc 7.3" SEEDS="2301 2302 2303 2304 2305" TIME=30s FUZZARGS= OUT=$ROOT/out/fuzz-gate EXTRA=() JOBS=1
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--kernels) need_value "$1" $#; KERNELS=$2; shift 2 ;;
	--seeds) need_value "$1" $#; [[ $2 =~ ^[0-9\ ]+$ ]] || die2 "--seeds needs numbers"; SEEDS=$2; shift 2 ;;
	--time) need_value "$1" $#; TIME=$2; shift 2 ;;
	--fuzz-args) need_value "$1" $#; FUZZARGS=$2; shift 2 ;;
	--out) need_value "$1" $#; OUT=$2; shift 2 ;;
	--jobs) need_value "$1" $#; need_positive "$1" "$2"; JOBS=$2; shift 2 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "fuzz-gate: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
claim_out "$OUT"

# The kernel list and the release candidate as ci/matrix.sh finds them.
prepare_kernels $KERNELS
# From here on the binary is built: every run is --no-build.
[[ ${#NOBUILD[@]} -gt 0 ]] || EXTRA=(--no-build "${EXTRA[@]}")
# The VM's own timeout (300 s by default) must outlast the fuzzing time: add 300 s for
# boot, the last batch and shrinking, unless the caller gave --timeout.
if [[ " ${EXTRA[*]} " != *" --timeout "* ]]; then
	case $TIME in
	*h) secs=$((${TIME%h} * 3600)) ;; *m) secs=$((${TIME%m} * 60)) ;; *s) secs=${TIME%s} ;; *) secs=$TIME ;;
	esac
	[[ $secs =~ ^[0-9]+$ ]] || { echo "fuzz-gate: --time takes whole seconds, minutes or hours (30s, 10m, 1h)" >&2; exit 2; }
	EXTRA+=(--timeout "$((secs + 300))")
fi

set -- $KERNELS
total=$#
read -r -a seeds <<<"$SEEDS"
[[ ${#seeds[@]} -gt 0 ]] || { echo "fuzz-gate: no seeds" >&2; exit 2; }
seed_of() { local i=$1; [[ $i -lt ${#seeds[@]} ]] || i=$((${#seeds[@]} - 1)); echo "${seeds[$i]}"; }

run_one() { # index kernel: the kernel's seed is the index'th of --seeds (the last one repeats)
	local i=$1 k=$2 seed
	seed=$(seed_of "$((i - 1))")
	kernel_args "$k" || { echo "fuzz-gate: [$i/$total] no release candidate in experimental" >&2; echo 2 >"$OUT/$k.code"; return; }
	echo "fuzz-gate: [$i/$total] kernel $k: ./run-in-vm.sh ${KARGS[*]} ${EXTRA[*]} --out $OUT/$k -- fuzz --seed $seed --time $TIME $FUZZARGS" >&2
	local code=0
	"$ROOT/run-in-vm.sh" "${KARGS[@]}" "${EXTRA[@]}" --out "$OUT/$k" -- fuzz --seed "$seed" --time "$TIME" $FUZZARGS \
		>"$OUT/$k.ktap" 2>"$OUT/$k.err" || code=$?
	echo "$code" >"$OUT/$k.code"
}

for k in "$@"; do rm -f "$OUT/$k.code"; done
run_jobs "$JOBS" run_one "$@"

# One line per kernel, in the order given.
worst=0 i=0 cases_total=0 mismatches_total=0
for k in "$@"; do
	i=$((i + 1))
	code=$(cat "$OUT/$k.code" 2>/dev/null || echo 2)
	rm -f "$OUT/$k.code"
	release=$(sed -n 's/^# host: kernel \([^ ]*\).*/\1/p' "$OUT/$k.ktap" | head -n 1)
	summary=$(grep -o 'fuzz: seed [0-9]*, [0-9]* cases, [0-9]* mismatches[^,]*, [0-9]*/min' "$OUT/$k.ktap" | tail -n 1 || true)
	echo "fuzz-gate: [$i/$total] kernel $k (${release:-unknown}): ${summary:-no fuzz summary} (exit $code)"
	# How long the kernel took to post the CQEs the model predicted (a CQE missing at the
	# timeout is a mismatch; this line shows how close the run came to it).
	grep -o 'kernel CQE wait per case.*' "$OUT/$k.ktap" | tail -n 1 | sed "s/^/fuzz-gate: [$i\/$total]   /" || true
	grep '^# case [0-9]*: ' "$OUT/$k.ktap" | sed "s/^/fuzz-gate: [$i\/$total]   /" || true
	if [[ -n $summary ]]; then
		n=$(sed 's/.*seed [0-9]*, \([0-9]*\) cases.*/\1/' <<<"$summary") m=$(sed 's/.*cases, \([0-9]*\) mismatches.*/\1/' <<<"$summary")
		cases_total=$((cases_total + n)) mismatches_total=$((mismatches_total + m))
	fi
	case $code in
	0) [[ -n $summary ]] || { echo "fuzz-gate: [$i/$total] exit 0 without a summary" >&2; [[ $worst == 1 ]] || worst=2; } ;;
	1) worst=1 ;;
	*)
		echo "fuzz-gate: [$i/$total] kernel $k: set-up error or no verdict (exit $code):" >&2
		tail -n 20 "$OUT/$k.err" | sed 's/^/  /' >&2
		[[ $worst == 1 ]] || worst=2 ;;
	esac
done
echo "fuzz-gate: $total kernels, seeds $SEEDS, $TIME each: $cases_total cases, $mismatches_total mismatches; exit $worst"
exit "$worst"
