#!/usr/bin/env bash
# coverage.sh: gcov line and branch coverage of io_uring/ from a suite run.
#
#   ci/coverage.sh run O [OUT]            boot O/arch/x86/boot/bzImage (built with
#                                          ci/ringfence-coverage.config) with
#                                          ringfence.gcov=1, run the suite
#                                          (COVERAGE_EXHAUSTIVE=1: also the
#                                          exhaustive tier), then `report`
#   ci/coverage.sh report O ARCHIVE [OUT] put the .gcda files of ARCHIVE (the
#                                          gcov.cpio the guest sent back) next to
#                                          the .gcno files in O, and write
#                                          OUT/lcov.info, OUT/html/ and
#                                          OUT/coverage-summary.txt
# O is the kernel's O= build directory; OUT defaults to out/coverage.
# Needs lcov (lcov, genhtml), the gcc that built the kernel (its gcov) and python3.
# The interim until `ringfence vm --coverage` does `run` (docs/kernel-tree.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "coverage.sh: $*" >&2; exit 2; }
[[ $# -ge 2 ]] || die "usage: $0 run O [OUT] | report O ARCHIVE [OUT]"
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
run)
	OUT=${3:-$ROOT/out/coverage}
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	KERNEL=$O/arch/x86/boot/bzImage
	[[ -f $KERNEL ]] || die "no $KERNEL (build it first)"
	WORK=$(mktemp -d)
	trap 'rm -rf "$WORK"' EXIT
	"$ROOT/run-in-vm.sh" --kernel "$KERNEL" --config "$O/.config" --write-initramfs "$WORK/initrd.cpio"
	# The same command line as run-in-vm.sh, plus ringfence.gcov=1.
	APPEND="console=ttyS0 panic=-1 loglevel=5 printk.time=1 rdinit=/init mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp"
	GUEST_ARGS=run,--announce,--cases,/cases
	[[ ${COVERAGE_EXHAUSTIVE:-0} == 1 ]] && GUEST_ARGS+=,--exhaustive
	APPEND+=" ringfence.args=$GUEST_ARGS ringfence.gcov=1 ringfence.accel=tcg"
	APPEND+=" ringfence.config=$(sha256sum "$O/.config" | cut -d' ' -f1)"
	echo "coverage.sh: booting $KERNEL (TCG, ringfence.args=$GUEST_ARGS)" >&2
	start=$(date +%s)
	timeout "${COVERAGE_TIMEOUT:-1800}" qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot \
		-machine pc -accel tcg -cpu max -smp "$(nproc)" -m "${COVERAGE_MEMORY:-1G}" \
		-kernel "$KERNEL" -initrd "$WORK/initrd.cpio" -append "$APPEND" \
		-serial "file:$OUT/console.log" -monitor none -display none >"$OUT/qemu.log" 2>&1 || true
	echo "coverage.sh: guest ran $(($(date +%s) - start)) s" >&2
	rm -f "$OUT/gcov.cpio"
	rc=0
	"$ROOT/.build-release/release/ringfence" verdict "$OUT/console.log" --summary "$OUT/summary.txt" --files "$OUT" >"$OUT/results.ktap" || rc=$?
	grep -a '^# gcov:' "$OUT/console.log" >&2 || true
	tail -n 3 "$OUT/results.ktap" >&2
	[[ -f $OUT/gcov.cpio ]] || die "the guest sent no gcov.cpio (see $OUT/console.log)"
	report "$OUT/gcov.cpio" "$OUT"
	exit $rc
	;;
*) die "unknown mode $MODE (run or report)" ;;
esac
