#!/usr/bin/env bash
# ci/kselftest-vm.sh: the exported C kselftest (ringfence export --kselftest),
# cross-compiled statically and booted as the only /init of an initramfs on
# another architecture, judged by ringfence's own verdict code
# (`ringfence verdict`: KTAP, WARN/oops attribution by the kmsg markers).
# docs/architectures.md explains it and gives the measured times.
#
#   ci/kselftest-vm.sh --arch arm64                # Debian 7.3.4 cloud-arm64 kernel
#   ci/kselftest-vm.sh --arch s390x --kernel IMAGE # a kernel built with ci/build-s390x-kernel.sh
#   ci/kselftest-vm.sh --arch x86_64 --kernel IMAGE
#
# The arm64 kernel comes from Debian through a private apt configuration
# beside ringfence's own (~/.cache/ringfence/apt-arm64), whose sources.list
# is ringfence's (~/.cache/ringfence/apt/sources.list, written at run time
# from this machine's apt sources) with the architecture set to arm64; no
# mirror name is written anywhere else. apt-get download checks each .deb
# against the signed index.
#
# Exit: the verdict's (0 pass, 1 fail, 4 all skipped), 2 set-up.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() {
	cat <<'USAGE'
Usage: ci/kselftest-vm.sh --arch x86_64|arm64|s390x [--kernel IMAGE] [--version V] [--out DIR] [--ringfence BIN] [--exhaustive]
  --kernel IMAGE  boot this kernel image (default for arm64: Debian's
                  linux-binary-V+deb13-cloud-arm64, downloaded once)
  --version V     Debian kernel version for arm64 (default 7.3.4)
  --out DIR       default: ./out/kselftest-ARCH
  --exhaustive    run the exhaustive tier too (-e)
USAGE
}
ARCH= KERNEL= VERSION=7.3.4 OUT= RF= EXH=
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--arch) ARCH=${2:?--arch needs a value}; shift 2 ;;
	--kernel) KERNEL=${2:?--kernel needs an image}; shift 2 ;;
	--version) VERSION=${2:?--version needs a value}; shift 2 ;;
	--out) OUT=${2:?--out needs a directory}; shift 2 ;;
	--ringfence) RF=${2:?--ringfence needs a path}; shift 2 ;;
	--exhaustive) EXH=-e; shift ;;
	*) echo "kselftest-vm: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
# The architecture table: cross compiler prefix, QEMU, machine and CPU,
# console, the package that has QEMU. Power-off is the same everywhere:
# the C /init calls reboot(RB_POWER_OFF), and QEMU runs with -no-reboot.
case $ARCH in
x86_64) CROSS= QEMU=qemu-system-x86_64 MACHINE="-machine pc -cpu max" CONSOLE=ttyS0 PKG=qemu-system-x86 ;;
arm64) CROSS=aarch64-linux-gnu- QEMU=qemu-system-aarch64 MACHINE="-M virt -cpu max" CONSOLE=ttyAMA0 PKG=qemu-system-arm ;;
s390x) CROSS=s390x-linux-gnu- QEMU=qemu-system-s390x MACHINE="-M s390-ccw-virtio -cpu max -device sclpconsole,chardev=con0 -chardev file,id=con0,path=@LOG@" CONSOLE=ttysclp0 PKG=qemu-system-misc ;;
*) echo "kselftest-vm: --arch must be x86_64, arm64 or s390x" >&2; usage >&2; exit 2 ;;
esac
CACHE=${RINGFENCE_CACHE:-$HOME/.cache/ringfence}
OUT=${OUT:-$PWD/out/kselftest-$ARCH}
if [[ -z $RF ]]; then
	# The newer of the release and debug builds: the export must be this tree's.
	RF=$ROOT/.build-release/release/ringfence
	[[ -x $RF && ! $ROOT/.build/debug/ringfence -nt $RF ]] || RF=$ROOT/.build/debug/ringfence
fi
[[ -x $RF ]] || { echo "kselftest-vm: no ringfence binary ($RF); swift build first" >&2; exit 2; }
command -v "${CROSS}gcc" >/dev/null || { echo "kselftest-vm: ${CROSS}gcc not found (apt-get install gcc-${CROSS%-})" >&2; exit 2; }
command -v "$QEMU" >/dev/null || { echo "kselftest-vm: $QEMU not found (apt-get install $PKG)" >&2; exit 2; }
mkdir -p "$OUT"

# The arm64 kernel: Debian's cloud-arm64 image, through a private apt configuration.
if [[ -z $KERNEL && $ARCH == arm64 ]]; then
	rel=$VERSION+deb13-cloud-arm64
	KERNEL=$CACHE/kernels-arm64/$rel/vmlinuz
	if [[ ! -r $KERNEL ]]; then
		A=$CACHE/apt-arm64
		[[ -r $CACHE/apt/sources.list ]] || { echo "kselftest-vm: no $CACHE/apt/sources.list; run ./run-in-vm.sh --list-kernels once (it writes it from this machine's apt sources)" >&2; exit 2; }
		mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/debs"
		touch "$A/status"
		cp "$CACHE/apt/sources.list" "$A/sources.list"
		O=(-o "Dir::Etc::SourceList=$A/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$A/lists"
			-o "Dir::Cache::Archives=$A/archives" -o "Dir::State::status=$A/status" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
			-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Acquire::Languages=none -o APT::Sandbox::User=root)
		apt-get "${O[@]}" -q update >"$OUT/apt.log" 2>&1 || { echo "kselftest-vm: apt-get update failed (see $OUT/apt.log)" >&2; exit 2; }
		(cd "$A/debs" && apt-get "${O[@]}" -q download "linux-binary-$rel") >>"$OUT/apt.log" 2>&1 ||
			{ echo "kselftest-vm: cannot download linux-binary-$rel (see $OUT/apt.log; is $VERSION in the index?)" >&2; exit 2; }
		tmp=$(mktemp -d)
		dpkg-deb -x "$A"/debs/linux-binary-"$rel"_*.deb "$tmp"
		mkdir -p "$(dirname "$KERNEL")"
		mv "$tmp/usr/lib/modules/$rel/vmlinuz" "$KERNEL"
		rm -rf "$tmp"
	fi
fi
[[ -n $KERNEL && -r $KERNEL ]] || { echo "kselftest-vm: no kernel image (--kernel IMAGE)" >&2; exit 2; }

# Export, cross-compile (static), pack /init and /dev/console.
rm -rf "$OUT/kselftest" "$OUT/rootfs"
"$RF" export --kselftest "$OUT/kselftest" --cases "$ROOT/cases" >"$OUT/export.txt"
make -s -C "$OUT/kselftest" CROSS_COMPILE="$CROSS" >/dev/null
mkdir -p "$OUT/rootfs/dev"
cp "$OUT/kselftest/io_uring_bpf_filter" "$OUT/rootfs/init"
mknod "$OUT/rootfs/dev/console" c 5 1 2>/dev/null || true
(cd "$OUT/rootfs" && find . | cpio -o -H newc --quiet) >"$OUT/initrd.cpio"

LOG=$OUT/console.log
rm -f "$LOG"
serial=(-serial "file:$LOG")
[[ $ARCH == s390x ]] && serial=()
start=$(date +%s.%N)
# shellcheck disable=SC2086 # MACHINE is a list of words
timeout 1800 "$QEMU" -nodefaults -no-user-config -nographic -no-reboot ${MACHINE//@LOG@/$LOG} -smp 1 -m 512M \
	-kernel "$KERNEL" -initrd "$OUT/initrd.cpio" \
	-append "console=$CONSOLE panic=-1 loglevel=5 printk.time=1 rdinit=/init${EXH:+ -- $EXH}" \
	"${serial[@]}" -monitor none -display none || true
vm=$(echo "$(date +%s.%N) - $start" | bc)
rc=0
"$RF" verdict "$LOG" --summary "$OUT/summary.txt" >"$OUT/results.ktap" || rc=$?
grep -E '^(not ok|# [A-Z]|# CQE|# IORING|# submitted|# step)' "$OUT/results.ktap" | head -40 || true
echo "kselftest-vm: $ARCH, $(basename "$KERNEL") ($(head -1 "$OUT/export.txt" | sed 's/^ringfence export: //')): VM ${vm%???????} s; $(head -1 "$OUT/summary.txt"); exit $rc"
# Byte order: BYTE-ORDER lists the exported cases that declare one
# (byte_order: in the case file); each is skipped on machines of the other
# order, so none may fail for it. Every failure is named, and so is a declared
# case that ran here, so a reader sees which cases the byte order decided.
grep '^not ok' "$OUT/results.ktap" | awk '{ print $4 }' | sort >"$OUT/failed.txt" || true
[[ -r $OUT/kselftest/BYTE-ORDER ]] || { echo "kselftest-vm: the export has no BYTE-ORDER (an older ringfence: $RF)" >&2; exit 2; }
grep -v '^#' "$OUT/kselftest/BYTE-ORDER" | cut -f1 | sort >"$OUT/byte-order.txt"
grep -E '^ok [0-9]+ [^ ]+ # SKIP the case holds on' "$OUT/results.ktap" | awk '{ print $3 }' | sort >"$OUT/byte-order-skipped.txt" || true
echo "kselftest-vm: $(wc -l <"$OUT/byte-order.txt") cases declare a byte order (BYTE-ORDER): $(wc -l <"$OUT/byte-order-skipped.txt") skipped here as of the other order"
echo "kselftest-vm: $(wc -l <"$OUT/failed.txt") failed:"
sed 's/^/  /' "$OUT/failed.txt"
exit $rc
