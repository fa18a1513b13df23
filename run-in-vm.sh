#!/usr/bin/env bash
# run-in-vm.sh: build ringfence (release, static Swift stdlib) when needed,
# then hand every argument to `ringfence vm`, which owns the host side:
# kernel download and cache, initramfs, QEMU, verdict, results.
# `./run-in-vm.sh --help` lists the options; docs/run-in-vm.md explains them.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$ROOT/.build-release/release/ringfence
build=1
for arg in "$@"; do
	[[ $arg == -- ]] && break
	[[ $arg == --no-build ]] && build=0
done
if [[ $build == 1 ]]; then
	command -v swift >/dev/null || { echo "run-in-vm.sh: error: swift not found (or pass --no-build with $BIN built)" >&2; exit 2; }
	log=$(mktemp)
	if ! (cd "$ROOT" && swift build -c release --static-swift-stdlib --scratch-path .build-release) >"$log" 2>&1; then
		cat "$log" >&2; rm -f "$log"
		echo "run-in-vm.sh: error: swift build failed" >&2; exit 2
	fi
	rm -f "$log"
fi
[[ -x $BIN ]] || { echo "run-in-vm.sh: error: no ringfence binary at $BIN (drop --no-build)" >&2; exit 2; }
export RINGFENCE_DEFAULT_CASES=$ROOT/cases RINGFENCE_ROOT=$ROOT
exec "$BIN" vm "$@"
