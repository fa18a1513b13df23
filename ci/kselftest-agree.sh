#!/usr/bin/env bash
# ci/kselftest-agree.sh: the two executors agree. Exports the cases as C
# (ringfence export --kselftest), builds them statically with gcc, boots the
# binary as the only /init of an initramfs on a cached Debian kernel, judges
# the console with ringfence's own verdict code (`ringfence verdict`), and
# compares each exported case's status with the Swift runner's results.json
# for the same kernel. docs/architectures.md explains it.
#
# Statuses compared: pass, fail, skip. The C program leaves known bugs to the
# host judge, so a Swift `xfail` counts as `fail` and `xpass` as `pass`;
# Swift `timeout`/`error` count as `fail`.
#
# Exit: 0 every exported case agrees; 1 a case differs, is missing on either
# side, or the C run had no verdict; 2 set-up (no kernel, no compiler, bad
# option).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage() {
	cat <<'USAGE'
Usage: ci/kselftest-agree.sh [--kernel RELEASE] [--swift-results FILE] [--out DIR] [--ringfence BIN]
  --kernel RELEASE       a kernel in ~/.cache/ringfence/kernels (default
                         7.3.4+deb13-cloud-amd64)
  --swift-results FILE   the Swift runner's results.json for that kernel;
                         without it, ./run-in-vm.sh --no-build --kernel-version V
                         --out DIR/swift makes one (V from RELEASE)
  --swift-version V      run-in-vm.sh --kernel-version for the Swift run
                         (default: RELEASE up to '+'; 7.3~rc7 for a release candidate)
  --out DIR              default: ./out/kselftest-agree/RELEASE
  --ringfence BIN        default: the newer of .build-release/release/ringfence and .build/debug/ringfence
USAGE
}
KREL=7.3.4+deb13-cloud-amd64 SWIFT= OUT= RF= SVER=
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--kernel) KREL=${2:?--kernel needs a value}; shift 2 ;;
	--swift-results) SWIFT=${2:?--swift-results needs a file}; shift 2 ;;
	--out) OUT=${2:?--out needs a directory}; shift 2 ;;
	--swift-version) SVER=${2:?--swift-version needs a value}; shift 2 ;;
	--ringfence) RF=${2:?--ringfence needs a path}; shift 2 ;;
	*) echo "kselftest-agree: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
CACHE=${RINGFENCE_CACHE:-$HOME/.cache/ringfence}
KERNEL=$CACHE/kernels/$KREL/vmlinuz
[[ -r $KERNEL ]] || { echo "kselftest-agree: no kernel at $KERNEL; run ./run-in-vm.sh --kernel-version ${KREL%%+*} once to fetch it" >&2; exit 2; }
OUT=${OUT:-$PWD/out/kselftest-agree/$KREL}
if [[ -z $RF ]]; then
	# The newer of the release and debug builds: the export must be this tree's.
	RF=$ROOT/.build-release/release/ringfence
	[[ -x $RF && ! $ROOT/.build/debug/ringfence -nt $RF ]] || RF=$ROOT/.build/debug/ringfence
fi
[[ -x $RF ]] || { echo "kselftest-agree: no ringfence binary ($RF); swift build first" >&2; exit 2; }
command -v gcc >/dev/null || { echo "kselftest-agree: gcc not found (apt-get install gcc)" >&2; exit 2; }
command -v cpio >/dev/null || { echo "kselftest-agree: cpio not found (apt-get install cpio)" >&2; exit 2; }
mkdir -p "$OUT"

# 1. Export and build (static: the binary is the whole initramfs).
rm -rf "$OUT/kselftest"
"$RF" export --kselftest "$OUT/kselftest" --cases "$ROOT/cases"
make -s -C "$OUT/kselftest" CC=gcc >/dev/null

# 2. Initramfs: /init and /dev/console.
rm -rf "$OUT/rootfs" && mkdir -p "$OUT/rootfs/dev"
cp "$OUT/kselftest/io_uring_bpf_filter" "$OUT/rootfs/init"
mknod "$OUT/rootfs/dev/console" c 5 1 2>/dev/null || true
(cd "$OUT/rootfs" && find . | cpio -o -H newc --quiet) >"$OUT/initrd.cpio"

# 3. Boot under QEMU (KVM when it works, TCG otherwise), as ringfence vm does.
accel=tcg,thread=single cpu=max
if [[ -w /dev/kvm ]] && [[ ! -e $CACHE/kvm-failed ]]; then accel=kvm cpu=host; fi
start=$(date +%s.%N)
timeout 900 qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot -machine pc -accel "$accel" -cpu "$cpu" \
	-smp 1 -m 512M -kernel "$KERNEL" -initrd "$OUT/initrd.cpio" \
	-append "console=ttyS0 panic=-1 loglevel=5 printk.time=1 rdinit=/init mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp" \
	-serial "file:$OUT/console.log" -monitor none -display none || true
vm=$(echo "$(date +%s.%N) - $start" | bc)

# 4. The same verdict code as x86_64's ringfence vm: KTAP, WARN attribution by the kmsg markers.
rc=0
"$RF" verdict "$OUT/console.log" --summary "$OUT/summary.txt" >"$OUT/results.ktap" || rc=$?
echo "kselftest-agree: C export on $KREL ($accel): VM ${vm%???????} s; $(head -1 "$OUT/summary.txt"); verdict exit $rc"

# 5. The Swift runner's results for the same kernel.
if [[ -z $SWIFT ]]; then
	ver=${SVER:-${KREL%%+*}}
	[[ $ver == *-cloud-amd64 ]] && { echo "kselftest-agree: say which Debian version $KREL is with --swift-version (e.g. 7.3~rc7)" >&2; exit 2; }
	"$ROOT/run-in-vm.sh" --no-build --kernel-version "$ver" --out "$OUT/swift" >"$OUT/swift.log" 2>&1 || true
	SWIFT=$OUT/swift/results.json
fi
[[ -r $SWIFT ]] || { echo "kselftest-agree: no Swift results ($SWIFT)" >&2; exit 1; }

# 6. Case by case.
python3 - "$OUT/results.ktap" "$SWIFT" "$OUT/kselftest/NOT-EXPORTED" "$OUT/differences.txt" "$KREL" <<'PY'
import json, re, sys
ktap, swift_path, not_exported, diff_path, krel = sys.argv[1:6]
c = {}
for line in open(ktap):
    m = re.match(r'^(not ok|ok) \d+ (\S+)(.*)$', line.rstrip('\n'))
    if not m:
        continue
    ok, cid, rest = m.groups()
    c[cid] = 'fail' if ok == 'not ok' else ('skip' if re.search(r'#\s*SKIP', rest) else 'pass')
report = json.load(open(swift_path))
if report.get('kernel', {}).get('release') != krel:
    print(f"kselftest-agree: the Swift results are of kernel {report.get('kernel', {}).get('release')}, not {krel}")
    sys.exit(1)
norm = {'pass': 'pass', 'xpass': 'pass', 'fail': 'fail', 'xfail': 'fail', 'timeout': 'fail', 'error': 'fail', 'skip': 'skip'}
s = {x['id']: norm.get(x['status'], x['status']) for x in report['cases']}
skipped = {l.split('\t')[0] for l in open(not_exported) if not l.startswith('#') and l.strip()}
diffs = []
for cid, st in sorted(c.items()):
    if cid not in s:
        diffs.append(f'{cid}: C {st}, not in the Swift results')
    elif s[cid] != st:
        diffs.append(f'{cid}: C {st}, Swift {s[cid]}')
for cid in sorted(set(s) - set(c) - skipped):
    diffs.append(f'{cid}: Swift {s[cid]}, neither exported nor listed in NOT-EXPORTED')
same = sum(1 for k in c if s.get(k) == c[k])
open(diff_path, 'w').write(''.join(d + '\n' for d in diffs))
kernel = report.get('kernel', {}).get('release', '?')
print(f'kselftest-agree: {len(c)} exported cases on {kernel}: {same} agree, {len(diffs)} differ; '
      f'{len(skipped)} not exported (NOT-EXPORTED)')
for d in diffs[:50]:
    print('  ' + d)
if not c:
    print('kselftest-agree: the C run reported no case (see console.log)')
    sys.exit(1)
sys.exit(1 if diffs else 0)
PY
