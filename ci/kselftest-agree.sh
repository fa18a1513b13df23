#!/usr/bin/env bash
# ci/kselftest-agree.sh: the two executors agree. Runs the cases exported as C
# (`ringfence vm --executor kselftest`: ringfence export --kselftest, built
# statically with gcc, booted as the only /init on the same cached Debian
# kernel, judged by the one judge with the exported cases as the plan, the
# path --arch arm64|s390x take) and the Swift guest (`ringfence vm`) on one
# kernel, and compares each exported case's status in the two results.json.
# docs/architectures.md explains it.
#
# Statuses compared: pass, fail, skip. Both runs are judged with
# cases/known-bugs.yaml, so `xfail` counts as `fail` and `xpass` as `pass` on
# both sides; `timeout`/`error`/`crash` count as `fail`.
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
  --swift-version V      --kernel-version for both runs
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
ver=${SVER:-${KREL%%+*}}
[[ $ver == *-cloud-amd64 ]] && { echo "kselftest-agree: say which Debian version $KREL is with --swift-version (e.g. 7.3~rc7)" >&2; exit 2; }
mkdir -p "$OUT"

# 1-4. The C executor: ringfence vm exports, compiles, boots and judges
# (the same kernel store, --out rule, orphan handling and judge as every run).
rc=0
"$RF" vm --executor kselftest --kernel-version "$ver" --cases "$ROOT/cases" --out "$OUT/c" >"$OUT/c.log" 2>&1 || rc=$?
[[ $rc == 0 || $rc == 1 ]] || { echo "kselftest-agree: the C run did not finish (exit $rc); the end of $OUT/c.log:" >&2; tail -n 15 "$OUT/c.log" >&2; exit 2; }
echo "kselftest-agree: C export on $KREL: $(head -1 "$OUT/c/summary.txt"); exit $rc"

# 5. The Swift runner's results for the same kernel.
if [[ -z $SWIFT ]]; then
	"$ROOT/run-in-vm.sh" --no-build --kernel-version "$ver" --out "$OUT/swift" >"$OUT/swift.log" 2>&1 || true
	SWIFT=$OUT/swift/results.json
fi
[[ -r $SWIFT ]] || { echo "kselftest-agree: no Swift results ($SWIFT)" >&2; exit 1; }

# 6. Case by case.
python3 - "$OUT/c/results.json" "$SWIFT" "$OUT/c/NOT-EXPORTED" "$OUT/differences.txt" "$KREL" <<'PY'
import json, sys
c_path, swift_path, not_exported, diff_path, krel = sys.argv[1:6]
norm = {'pass': 'pass', 'xpass': 'pass', 'fail': 'fail', 'xfail': 'fail', 'timeout': 'fail', 'error': 'fail', 'crash': 'fail', 'skip': 'skip'}
def statuses(path, who):
    report = json.load(open(path))
    release = report.get('kernel', {}).get('release') or report.get('host', {}).get('kernelRelease')
    if release != krel:
        print(f"kselftest-agree: the {who} results are of kernel {release}, not {krel}")
        sys.exit(1)
    return report, {x['id']: norm.get(x['status'], x['status']) for x in report['cases']}
_, c = statuses(c_path, 'C')
report, s = statuses(swift_path, 'Swift')
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
