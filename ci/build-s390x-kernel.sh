#!/usr/bin/env bash
# ci/build-s390x-kernel.sh: cross-build a big-endian s390x kernel from the
# cached linux-source-7.3 (./run-in-vm.sh --build unpacks it) with
# tinyconfig + ci/ringfence.config + ci/ringfence-s390x.config, out of tree.
# Prints the image path (for ci/kselftest-vm.sh --arch s390x --kernel).
# Needs: apt-get install gcc-s390x-linux-gnu flex bison bc
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RINGFENCE_CACHE:-$HOME/.cache/ringfence}
SRC=${1:-$CACHE/src/linux-source-7.3}
O=${2:-$CACHE/build-s390x/$(basename "$SRC")}
[[ -r $SRC/Makefile ]] || { echo "build-s390x-kernel: no kernel source at $SRC (./run-in-vm.sh --build unpacks linux-source-7.3)" >&2; exit 2; }
command -v s390x-linux-gnu-gcc >/dev/null || { echo "build-s390x-kernel: apt-get install gcc-s390x-linux-gnu" >&2; exit 2; }
mkdir -p "$O"
M=(make -C "$SRC" O="$O" ARCH=s390 CROSS_COMPILE=s390x-linux-gnu- -j"$(nproc)")
"${M[@]}" -s tinyconfig >/dev/null
"$SRC/scripts/kconfig/merge_config.sh" -m -O "$O" "$O/.config" "$ROOT/ci/ringfence.config" "$ROOT/ci/ringfence-s390x.config" >/dev/null
"${M[@]}" -s olddefconfig >/dev/null
for opt in CONFIG_IO_URING CONFIG_IO_URING_BPF CONFIG_SCLP_VT220_CONSOLE CONFIG_BLK_DEV_INITRD; do
	grep -q "^$opt=y" "$O/.config" || { echo "build-s390x-kernel: $opt is not set in $O/.config" >&2; exit 1; }
done
"${M[@]}" -s bzImage
echo "$O/arch/s390/boot/bzImage"
