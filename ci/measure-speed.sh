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
# Usage: ci/measure-speed.sh [-n N] [--bin PATH]... [--out DIR] [-- RUN-IN-VM-OPTIONS...]
#   -n N        boots of each kind (default 3)
#   --bin PATH  the ringfence binary (default .build-release/release/ringfence; never builds).
#               Repeat it to compare binaries (before/after) in the same session: each
#               round boots bare once, then runs the suite once per binary, in turn
#               first and last (odd rounds in the given order, even rounds reversed);
#               one column each.
#   --out DIR   keeps every run's output (default: a temporary directory, removed)
# Options after -- go to every ringfence vm call (e.g. --kernel-version 7.3.4, --cpus 1).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=3 BINS=() OUT="" EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-n) N=${2:?-n needs a number}; shift 2 ;;
	--bin) BINS+=("${2:?--bin needs a path}"); shift 2 ;;
	--out) OUT=${2:?--out needs a directory}; shift 2 ;;
	--) shift; EXTRA=("$@"); break ;;
	*) echo "measure-speed: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "measure-speed: -n wants a positive number" >&2; exit 2; }
[[ ${#BINS[@]} -gt 0 ]] || BINS=("$ROOT/.build-release/release/ringfence")
for BIN in "${BINS[@]}"; do
	[[ -x $BIN ]] || { echo "measure-speed: no ringfence binary at $BIN (build it: swift build -c release --static-swift-stdlib --scratch-path .build-release)" >&2; exit 2; }
done
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
	line=$("${BINS[0]}" vm --accel tcg --bare-boot --repeat 1 "${EXTRA[@]}" 2>&1 | tee "$OUT/bare-$i.log" | grep -m1 '^bare boot 1/1:' || true)
	bare=$(sed -n 's/^bare boot 1\/1: \([0-9.]*\) s.*/\1/p' <<<"$line")
	[[ -n $bare ]] || { echo "measure-speed: bare boot $i gave no time (see $OUT/bare-$i.log)" >&2; keep=1; exit 1; }
	printf 'bare\t%s\n' "$bare" >>"$rows"
	echo "bare boot $i/$N: $bare s" >&2

	# Alternate the binaries' order from round to round: the run right after
	# another is about 10 % slower here (measured 2026-12-04 with the same
	# pair both ways round), which a fixed order would charge to one binary.
	order=("${!BINS[@]}")
	if ((i % 2 == 0)); then order=(); for ((b = ${#BINS[@]} - 1; b >= 0; b--)); do order+=("$b"); done; fi
	for b in "${order[@]}"; do
	BIN=${BINS[$b]}
	dir=$OUT/run-$i-bin$b
	code=0
	"$BIN" vm --accel tcg --out "$dir" "${EXTRA[@]}" >"$dir.log" 2>&1 || code=$?
	console=$(find "$dir" -name console.log | head -1)
	host=$(grep -m1 '# ringfence vm: kernel .*VM ' "$dir.log" || true)
	[[ -n $console && -n $host ]] || { echo "measure-speed: run $i of $BIN gave no console log or timing (exit $code; see $dir.log)" >&2; keep=1; exit 1; }
	vm=$(sed -n 's/.*VM \([0-9.]*\) s, total \([0-9.]*\) s.*/\1/p' <<<"$host")
	total=$(sed -n 's/.*VM \([0-9.]*\) s, total \([0-9.]*\) s.*/\2/p' <<<"$host")
	# One row per run: named values, read from the console (tr: it has \r\n).
	tr -d '\r' <"$console" | awk -v bin="$b" -v vm="$vm" -v total="$total" -v code="$code" '
		/# ringfence: init at / { for (k = 1; k <= NF; k++) if ($k == "at") init = $(k + 1) }
		/# ringfence: suite took / { for (k = 1; k <= NF; k++) if ($k == "took") suite = $(k + 1) }
		/# ringfence: phase / { for (k = 1; k <= NF; k++) if ($k == "phase") { ph[$(k + 1)] = $(k + 2); order[++n] = $(k + 1) } }
		/reboot: Power down/ { match($0, /\[ *[0-9.]+\]/); s = substr($0, RSTART + 1, RLENGTH - 2); gsub(/ /, "", s); down = s }
		END {
			transfer = ("results-transfer" in ph) ? ph["results-transfer"] : 0
			printf "run\t%s\tvm=%s\ttotal=%s\texit=%s", bin, vm, total, code
			printf "\thost-prep=%.3f", total - vm
			if (down != "") printf "\tqemu+fw=%.3f", vm - down
			printf "\tkernel=%s\tsuite=%s", init, suite
			for (k = 1; k <= n; k++) if (order[k] != "results-transfer") printf "\t  %s=%s", order[k], ph[order[k]]
			if ("results-transfer" in ph) printf "\ttransfer=%s", transfer
			if (down != "") printf "\tpower-off=%.3f", down - init - suite - transfer
			printf "\n"
		}' >>"$rows"
	echo "suite run $i/$N of $BIN: total $total s, VM $vm s (exit $code)" >&2
	done
done

# Medians per named value (rows, in first-seen order) per binary (columns), and the ratios.
for b in "${!BINS[@]}"; do echo "column $b: ${BINS[$b]}"; done
awk -F'\t' -v nbins="${#BINS[@]}" '
	function median(list,   a, m, k, t, j) {
		m = split(list, a, " ")
		if (m == 0) return ""
		for (k = 2; k <= m; k++) { t = a[k]; for (j = k - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	$1 == "bare" { bare = bare " " $2; nb++ }
	$1 == "run" {
		b = $2; nr[b]++
		for (k = 3; k <= NF; k++) {
			split($k, kv, "="); name = kv[1]
			if (!(name in seen)) { seen[name] = 1; names[++nn] = name }
			vals[name, b] = vals[name, b] " " kv[2]
			key = name; gsub(/ /, "", key)
			round[key, b, nr[b]] = kv[2]
		}
	}
	END {
		bm = median(bare)
		printf "%-28s", "phase (median, seconds)"
		for (b = 0; b < nbins; b++) printf " %12s", "bin" b " (" nr[b] ")"
		printf "\n"
		for (k = 1; k <= nn; k++) {
			name = names[k]
			printf "%-28s", (name == "exit" ? "exit codes" : name)
			for (b = 0; b < nbins; b++) {
				if (name == "exit") { printf " %12s", vals[name, b]; continue }
				m = median(vals[name, b])
				if (m == "") printf " %12s", "-"; else printf " %12.3f", m
			}
			printf "\n"
		}
		printf "%-28s %12.3f   (%d boots, interleaved with the runs)\n", "bare boot (yardstick)", bm, nb
		printf "%-28s", "ratio total/bare"
		for (b = 0; b < nbins; b++) printf " %12.2f", median(vals["total", b]) / bm
		printf "\n%-28s", "ratio VM/bare"
		for (b = 0; b < nbins; b++) printf " %12.2f", median(vals["vm", b]) / bm
		printf "\n"
		# Paired per round (every round runs each binary once): binN / bin0.
		for (b = 1; b < nbins; b++) for (p = 1; p <= 4; p++) {
			key = (p == 1 ? "total" : p == 2 ? "suite" : p == 3 ? "cases-run" : "transfer")
			pair = ""
			for (r = 1; r <= nr[b] && r <= nr[0]; r++)
				if (((key, 0, r) in round) && ((key, b, r) in round) && round[key, 0, r] > 0)
					pair = pair sprintf(" %.2f", round[key, b, r] / round[key, 0, r])
			if (pair != "") printf "bin%d/bin0 %s per round:%s (median %.2f)\n", b, key, pair, median(pair)
		}
	}' "$rows"
