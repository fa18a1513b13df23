#!/usr/bin/env bash
# ci/mutate.sh TREE O [ID...]: mutation testing of io_uring's BPF filter code.
#
# For each mutant of ci/mutants/catalogue.txt (all of them, or the IDs given):
# apply it to the kernel source TREE (fails loudly unless the original snippet
# occurs exactly once), rebuild bzImage incrementally in the out-of-tree
# build dir O, run the whole suite on it with run-in-vm.sh, restore the file
# (always: also on error and Ctrl-C), and print a table row:
#   id  killed|survived|build-error|error  killing cases (first 3)  seconds  description
# docs/mutation.md explains the setup and the results.
#
# Environment:
#   MUTATE_OUT=DIR      run directories, results and the table (default /tmp/ringfence-mutate)
#   MUTATE_TIMEOUT=S    ringfence vm --timeout (default 300; a hung kernel counts as killed)
#   MUTATE_ACCEL=A      --accel (default tcg)
#   MUTATE_AS=PATH      build TREE as if it sat at PATH (bind mount in a private mount
#                       namespace, needs root): lets O be a copy of a build dir made from
#                       the tree at PATH without a full rebuild. PATH is not modified.
#   MUTATE_NICE=N       nice level for builds and boots (default 10)
#   MUTATE_JOBS=N       make -j (default: nproc)
#   MUTATE_DEBUG=1      O is a debug kernel's build (ringfence vm --build --debug): boot with
#                       1 GiB and ringfence.kmemleak=1, so the inject: cases run and the guest
#                       scans for leaks after the suite (the EP mutants need it)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CAT=$ROOT/ci/mutants/catalogue.txt
APPLY=$ROOT/ci/mutants/apply.py
[[ $# -ge 2 ]] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
TREE=$(cd "$1" && pwd) || exit 2
O=$(mkdir -p "$2" && cd "$2" && pwd) || exit 2
shift 2
OUT=${MUTATE_OUT:-/tmp/ringfence-mutate}
TIMEOUT=${MUTATE_TIMEOUT:-300}
ACCEL=${MUTATE_ACCEL:-tcg}
NICE=${MUTATE_NICE:-10}
JOBS=${MUTATE_JOBS:-$(nproc)}
mkdir -p "$OUT"
VMARGS=()
[[ ${MUTATE_DEBUG:-0} == 1 ]] && VMARGS=(--memory 1G --append ringfence.kmemleak=1)
TABLE=$OUT/table.tsv

"$APPLY" check "$CAT" "$TREE" >/dev/null || { echo "mutate.sh: catalogue does not match $TREE (see above)" >&2; exit 2; }
if [[ $# -gt 0 ]]; then IDS=("$@"); else mapfile -t IDS < <("$APPLY" list "$CAT" | cut -f1); fi

build() {
	if [[ -n ${MUTATE_AS:-} ]]; then
		unshare -m --propagation private sh -c \
			'mount --bind "$1" "$2" && exec nice -n "$3" make -s -C "$2" O="$4" -j"$5" bzImage' \
			sh "$TREE" "$MUTATE_AS" "$NICE" "$O" "$JOBS"
	else
		nice -n "$NICE" make -s -C "$TREE" O="$O" -j"$JOBS" bzImage
	fi
}

CUR_FILE= CUR_BACKUP=
restore() {
	if [[ -n $CUR_FILE && -f $CUR_BACKUP ]]; then
		# a fresh copy renamed into place: new inode (hard links stay intact) and a
		# new mtime, so the next build recompiles the original
		cp "$CUR_BACKUP" "$TREE/$CUR_FILE.mutate-tmp" && mv -f "$TREE/$CUR_FILE.mutate-tmp" "$TREE/$CUR_FILE" &&
			rm -f "$CUR_BACKUP" || echo "mutate.sh: FAILED TO RESTORE $TREE/$CUR_FILE from $CUR_BACKUP" >&2
	fi
	CUR_FILE= CUR_BACKUP=
}
trap 'restore' EXIT
trap 'restore; echo "mutate.sh: interrupted" >&2; exit 130' INT TERM

row() { printf '%-5s %-11s %-70s %5s  %s\n' "$@"; }
[[ -f $TABLE ]] || printf 'id\tresult\tkilling_cases\tseconds\tdescription\n' >"$TABLE"
row id result "killing cases (first 3)" secs description
for id in "${IDS[@]}"; do
	line=$("$APPLY" list "$CAT" | awk -F'\t' -v id="$id" '$1 == id')
	[[ -n $line ]] || { echo "mutate.sh: no mutant $id" >&2; exit 2; }
	desc=$(cut -f5 <<<"$line")
	start=$SECONDS
	CUR_BACKUP=$OUT/$id.orig
	CUR_FILE=$("$APPLY" apply "$CAT" "$TREE" "$id" "$CUR_BACKUP") || { CUR_FILE=; echo "mutate.sh: $id: cannot apply" >&2; exit 2; }
	cases=
	if ! build >"$OUT/$id.build.log" 2>&1; then
		result=build-error
	else
		rm -rf "$OUT/$id" "$OUT/$id.json"
		(cd "$ROOT" && nice -n "$NICE" ./run-in-vm.sh --no-build --accel "$ACCEL" --timeout "$TIMEOUT" \
			--kernel "$O/arch/x86/boot/bzImage" --config "$O/.config" "${VMARGS[@]}" \
			--out "$OUT/$id" --results "$OUT/$id.json") >"$OUT/$id.log" 2>&1
		rc=$?
		case $rc in
		0) result=survived ;;
		1) result=killed ;;
		*) result=error ;;
		esac
		if [[ -s $OUT/$id.json ]]; then
			cases=$(python3 - "$OUT/$id.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bad = [c["id"] + ("" if c["status"] == "fail" else "(" + c["status"] + ")")
       for c in d.get("cases", []) if c.get("status") in ("fail", "crash", "timeout", "error")]
print(", ".join(bad[:3]) + (f" +{len(bad) - 3}" if len(bad) > 3 else ""))
PY
)
		fi
		[[ $result == killed && -z $cases ]] && cases="(run failed: see $OUT/$id.log)"
	fi
	restore
	secs=$((SECONDS - start))
	row "$id" "$result" "${cases:--}" "$secs" "$desc"
	printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$result" "${cases:--}" "$secs" "$desc" >>"$TABLE"
done
