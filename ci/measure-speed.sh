#!/usr/bin/env bash
# ci/measure-speed.sh: the run's cost in bare boots. In one invocation,
# boots the kernel N times with a trivial /init (run-in-vm.sh --bare-boot)
# and N times with the default suite, interleaved (bare, suite, bare, suite,
# ...) so machine load hits both alike, then prints per-phase medians and
# the ratio suite run / bare boot.
#
# Phases of a suite run (seconds):
#   host-prep   run-in-vm.sh's own work before QEMU starts and after it exits (total - VM)
#   qemu+fw     QEMU start, firmware, kernel decompression, QEMU exit (VM - kernel's power-down timestamp)
#   kernel      kernel start to /init ("# ringfence: init at X s")
#   suite       the guest CLI ("# ringfence: suite took X s"), split by its "# ringfence: phase" lines
#   transfer    results.json over the console ("# ringfence: phase results-transfer", newer guests)
#   power-off   the rest up to the kernel's "reboot: Power down" timestamp
#
# Usage: ci/measure-speed.sh [-n N] [--bin PATH] [--out DIR] [-- RUN-IN-VM-OPTIONS...]
#   -n N        boots of each kind (default 3)
#   --bin PATH  the ringfence binary (default .build-release/release/ringfence; never builds)
#   --out DIR   keeps every run's output (default: a temporary directory, removed)
# Options after -- go to every ringfence vm call (e.g. --kernel-version 7.3.4, --cpus 1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=3 BIN=$ROOT/.build-release/release/ringfence OUT="" EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-n) N=${2:?-n needs a number}; shift 2 ;;
	--bin) BIN=${2:?--bin needs a path}; shift 2 ;;
	--out) OUT=${2:?--out needs a directory}; shift 2 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "measure-speed: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "measure-speed: -n wants a positive number" >&2; exit 2; }
[[ -x $BIN ]] || { echo "measure-speed: no ringfence binary at $BIN (build it: swift build -c release --static-swift-stdlib --scratch-path .build-release)" >&2; exit 2; }
keep=1
if [[ -z $OUT ]]; then OUT=$(mktemp -d); keep=0; fi
mkdir -p "$OUT"
cleanup() { [[ $keep == 1 ]] || rm -rf "$OUT"; }
trap cleanup EXIT
export RINGFENCE_DEFAULT_CASES=$ROOT/cases

rows=$OUT/rows.tsv
: >"$rows"
for i in $(seq 1 "$N"); do
	# The yardstick: same kernel, same QEMU flags, a trivial /init.
	line=$("$BIN" vm --accel tcg --bare-boot --repeat 1 "${EXTRA[@]}" 2>&1 | tee "$OUT/bare-$i.log" | grep -m1 '^bare boot 1/1:' || true)
	bare=$(sed -n 's/^bare boot 1\/1: \([0-9.]*\) s.*/\1/p' <<<"$line")
	[[ -n $bare ]] || { echo "measure-speed: bare boot $i gave no time (see $OUT/bare-$i.log)" >&2; keep=1; exit 1; }
	printf 'bare\t%s\n' "$bare" >>"$rows"
	echo "bare boot $i/$N: $bare s" >&2

	dir=$OUT/run-$i
	code=0
	"$BIN" vm --accel tcg --out "$dir" "${EXTRA[@]}" >"$OUT/run-$i.log" 2>&1 || code=$?
	console=$(find "$dir" -name console.log | head -1)
	host=$(grep -m1 '# ringfence vm: kernel .*VM ' "$OUT/run-$i.log" || true)
	[[ -n $console && -n $host ]] || { echo "measure-speed: run $i gave no console log or timing (exit $code; see $OUT/run-$i.log)" >&2; keep=1; exit 1; }
	vm=$(sed -n 's/.*VM \([0-9.]*\) s, total \([0-9.]*\) s.*/\1/p' <<<"$host")
	total=$(sed -n 's/.*VM \([0-9.]*\) s, total \([0-9.]*\) s.*/\2/p' <<<"$host")
	# One row per run: named values, read from the console (tr: it has \r\n).
	tr -d '\r' <"$console" | awk -v vm="$vm" -v total="$total" -v code="$code" '
		/# ringfence: init at / { for (k = 1; k <= NF; k++) if ($k == "at") init = $(k + 1) }
		/# ringfence: suite took / { for (k = 1; k <= NF; k++) if ($k == "took") suite = $(k + 1) }
		/# ringfence: phase / { for (k = 1; k <= NF; k++) if ($k == "phase") { ph[$(k + 1)] = $(k + 2); order[++n] = $(k + 1) } }
		/reboot: Power down/ { match($0, /\[ *[0-9.]+\]/); s = substr($0, RSTART + 1, RLENGTH - 2); gsub(/ /, "", s); down = s }
		END {
			transfer = ("results-transfer" in ph) ? ph["results-transfer"] : 0
			printf "run\t%s\tvm=%s\ttotal=%s\texit=%s", total, vm, total, code
			printf "\thost-prep=%.3f", total - vm
			if (down != "") printf "\tqemu+fw=%.3f", vm - down
			printf "\tkernel=%s\tsuite=%s", init, suite
			for (k = 1; k <= n; k++) if (order[k] != "results-transfer") printf "\t  %s=%s", order[k], ph[order[k]]
			if ("results-transfer" in ph) printf "\ttransfer=%s", transfer
			if (down != "") printf "\tpower-off=%.3f", down - init - suite - transfer
			printf "\n"
		}' >>"$rows"
	echo "suite run $i/$N: total $total s, VM $vm s (exit $code)" >&2
done

# Medians per named value, in first-seen order, and the ratio.
awk -F'\t' '
	function median(list,   a, m, k, t, j) {
		m = split(list, a, " ")
		for (k = 2; k <= m; k++) { t = a[k]; for (j = k - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	$1 == "bare" { bare = bare " " $2; nb++ }
	$1 == "run" {
		nr++
		for (k = 3; k <= NF; k++) {
			split($k, kv, "="); name = kv[1]
			if (!(name in vals)) names[++nn] = name
			vals[name] = vals[name] " " kv[2]
		}
	}
	END {
		b = median(bare)
		printf "%-28s %9s\n", "phase (median of " nr " runs)", "seconds"
		for (k = 1; k <= nn; k++) {
			name = names[k]
			if (name == "exit") { printf "%-28s %9s\n", "exit codes", vals[name]; continue }
			printf "%-28s %9.3f\n", name, median(vals[name])
		}
		printf "%-28s %9.3f   (%d boots)\n", "bare boot (yardstick)", b, nb
		t = median(vals["total"])
		printf "%-28s %9.2f   (median total / median bare boot)\n", "ratio run/bare", t / b
		v = median(vals["vm"])
		printf "%-28s %9.2f   (median VM / median bare boot)\n", "ratio VM/bare", v / b
	}' "$rows"
