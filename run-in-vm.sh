#!/usr/bin/env bash
# run-in-vm.sh: build ringfence (release, static Swift stdlib) when needed,
# then hand every argument to `ringfence vm`, which owns the host side:
# kernel download and cache, initramfs, QEMU, verdict, results.
# `./run-in-vm.sh --help` lists the options; docs/run-in-vm.md explains them.
# Other architectures pass through too: ./run-in-vm.sh --arch arm64,
# ./run-in-vm.sh --arch s390x --build (docs/architectures.md).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$ROOT/.build-release/release/ringfence
build=1 info=0 bisect=0
for arg in "$@"; do
	[[ $arg == -- ]] && break
	[[ $arg == --no-build ]] && build=0
	[[ $arg == --bisect ]] && bisect=1
	[[ $arg == -h || $arg == --help || $arg == --version ]] && info=1
done
# --help and --version never build: the built binary answers, else this.
if [[ $info == 1 ]]; then
	[[ -x $BIN ]] && exec "$BIN" vm "$@"
	cat <<-EOF
	usage: ./run-in-vm.sh [--no-build] [ringfence vm options] [-- guest-args]
	Builds ringfence (swift build -c release --static-swift-stdlib --scratch-path .build-release),
	then runs \`ringfence vm\`: boots a Linux >= 7.0 kernel in QEMU and runs the suite in it.
	  --arch x86_64|arm64|s390x   the guest's architecture (default x86_64). arm64 boots Debian's
	                              cloud-arm64 kernel, s390x needs --build (or --kernel IMAGE); both run
	                              the cases exported as C, cross-compiled (docs/architectures.md).
	Not built yet, so this is the short help; after a first run, --help lists every option.
	See docs/run-in-vm.md.
	EOF
	exit 0
fi
# A set-up failure here is exit 2, or 125 (git bisect run's "skip") with --bisect.
setup_fail=2
[[ $bisect == 1 ]] && setup_fail=125
# Ctrl-C (or SIGTERM) while building: exit 130 (143), as the run itself does.
log=
trap 'rm -f "$log"; echo "run-in-vm.sh: interrupted while building" >&2; exit 130' INT
trap 'rm -f "$log"; echo "run-in-vm.sh: terminated while building" >&2; exit 143' TERM
if [[ $build == 1 ]]; then
	command -v swift >/dev/null || { echo "run-in-vm.sh: error: swift not found (or pass --no-build with $BIN built)" >&2; exit $setup_fail; }
	log=$(mktemp)
	rc=0
	(cd "$ROOT" && exec swift build -c release --static-swift-stdlib --scratch-path .build-release) >"$log" 2>&1 || rc=$?
	((rc == 130)) && { rm -f "$log"; echo "run-in-vm.sh: interrupted while building" >&2; exit 130; }
	((rc == 143)) && { rm -f "$log"; echo "run-in-vm.sh: terminated while building" >&2; exit 143; }
	if ((rc != 0)); then
		cat "$log" >&2; rm -f "$log"
		echo "run-in-vm.sh: error: swift build failed" >&2; exit $setup_fail
	fi
	rm -f "$log"
fi
trap - INT TERM
[[ -x $BIN ]] || { echo "run-in-vm.sh: error: no ringfence binary at $BIN (drop --no-build)" >&2; exit $setup_fail; }
export RINGFENCE_DEFAULT_CASES=$ROOT/cases RINGFENCE_ROOT=$ROOT
exec "$BIN" vm "$@"
