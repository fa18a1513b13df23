#!/usr/bin/env bash
# coverage.sh: gcov line and branch coverage of io_uring/ from a suite run.
#
#   ci/coverage.sh report O ARCHIVE [OUT] put the .gcda files of ARCHIVE (the
#                                          gcov.cpio the guest sent back) next to
#                                          the .gcno files in O, and write
#                                          OUT/lcov.info, OUT/html/ and
#                                          OUT/coverage-summary.txt
# O is the kernel's O= build directory; OUT defaults to out/coverage.
# Needs lcov (lcov, genhtml), the gcc that built the kernel (its gcov) and python3.
# `./run-in-vm.sh --build --coverage` builds, boots with ringfence.gcov=1 and
# calls this (docs/kernel-tree.md); the boot is the Swift host runner's alone.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "coverage.sh: $*" >&2; exit 2; }
[[ $# -ge 2 ]] || die "usage: $0 report O ARCHIVE [OUT]"
MODE=$1 O=$(cd "$2" && pwd)
[[ -f $O/.config ]] || die "$O has no .config"
grep -qx CONFIG_GCOV_PROFILE_URING=y "$O/.config" || die "$O/.config lacks CONFIG_GCOV_PROFILE_URING=y (merge ci/ringfence-coverage.config)"

report() {
	local archive=$1 out=$2
	mkdir -p "$out"
	local work
	work=$(mktemp -d)
	(cd "$work" && cpio -idm --quiet <"$archive") || die "cannot unpack $archive"
	find "$O" -name '*.gcda' -delete
	# Guest paths are <objtree without its leading />/<dir>/<file>.gcda.
	local n=0 rel dest
	while IFS= read -r rel; do
		dest=${rel#"${O#/}/"}
		if [[ $dest == "$rel" ]]; then
			# Built elsewhere, then moved: keep the part from io_uring/ on.
			dest=io_uring/${rel##*/io_uring/}
		fi
		[[ -f $O/${dest%.gcda}.gcno ]] || { echo "coverage.sh: no ${dest%.gcda}.gcno in $O for $rel" >&2; continue; }
		cp "$work/$rel" "$O/$dest"
		n=$((n + 1))
	done < <(cd "$work" && find . -name '*.gcda' -type f | sed 's|^\./||' | sort)
	rm -rf "$work"
	[[ $n -gt 0 ]] || die "no usable .gcda files in $archive"
	lcov --quiet --capture --rc lcov_branch_coverage=1 --directory "$O/io_uring" --output-file "$out/lcov.info"
	genhtml --quiet --branch-coverage --output-directory "$out/html" "$out/lcov.info" >/dev/null
	python3 "$ROOT/ci/coverage-summary.py" "$O" >"$out/coverage-summary.txt"
	echo "coverage.sh: $n .gcda files; $out/lcov.info, $out/html/index.html, $out/coverage-summary.txt"
	lcov --quiet --rc lcov_branch_coverage=1 --summary "$out/lcov.info" 2>&1 | sed 's/^/  /'
}

case $MODE in
report)
	[[ $# -ge 3 ]] || die "usage: $0 report O ARCHIVE [OUT]"
	ARCHIVE=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
	report "$ARCHIVE" "${4:-$ROOT/out/coverage}"
	;;
*) die "unknown mode $MODE (report; to boot and measure, ./run-in-vm.sh --build --coverage)" ;;
esac
