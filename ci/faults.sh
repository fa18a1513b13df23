#!/usr/bin/env bash
# ci/faults.sh: provokes every fault the host runner (ringfence vm) must end
# cleanly, and checks the exit code, the message, that no QEMU is left
# running, that no partial file is left in the kernel cache and that no stale
# results remain. Prints KTAP; exits 1 when a check failed.
#
# Needs the release binary (./run-in-vm.sh builds it) and the default kernel
# in the cache (any earlier ./run-in-vm.sh). About 5-8 minutes under TCG.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=("$ROOT/run-in-vm.sh" --no-build --accel tcg)
BIN=$ROOT/.build-release/release/ringfence
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ringfence
T=$(mktemp -d "${TMPDIR:-/tmp}/ringfence-faults.XXXXXX")
cleanup() {
	mountpoint -q "$T/full" 2>/dev/null && umount "$T/full"
	pkill -9 -f "ringfence-faults.${T##*.}" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
[[ -x $BIN ]] || { echo "faults: no $BIN; run ./run-in-vm.sh once first" >&2; exit 2; }
SMALL=(--cases "$ROOT/ci/fixtures/cases" --filter smoke)   # guest args for a quick run
CHECK_TABLE=$T/table
# shellcheck source=ci/lib/check.sh
source "$ROOT/ci/lib/check.sh"

# No QEMU or ringfence started by this script is still running.
no_strays() { ! pgrep -f "qemu-system.*ringfence-faults.${T##*.}" >/dev/null && ! pgrep -f "ringfence-faults.${T##*.}.*ringfence vm" >/dev/null; }
# No partial download or half-unpacked kernel in a cache.
cache_clean() { local c=$1; [[ -z $(ls -A "$c/debs/partial" 2>/dev/null) ]] && ! compgen -G "$c/kernels/.tmp-*" >/dev/null && ! compgen -G "$c/debs/*.part" >/dev/null; }

# check() (ci/lib/check.sh) also wants: no QEMU or ringfence of this script
# left running (unless ALLOW_RUNNING=1) and no partial file in the cache.
check_also() {
	[[ ${ALLOW_RUNNING:-0} == 1 ]] || no_strays || why+=("a QEMU or ringfence process is still running")
	cache_clean "$CACHE" || why+=("partial file in $CACHE")
}

# signal_after NAME SIGNAL WAIT-PATTERN WANT-EXIT MSG-PATTERN [extra…] -- COMMAND…: sends SIGNAL once
# WAIT-PATTERN shows on stderr.
signal_after() {
	local name=$1 sig=$2 waitfor=$3 want=$4 pattern=$5; shift 5
	local extra=()
	while [[ $1 != -- ]]; do extra+=("$1"); shift; done
	shift
	: >"$T/out"; : >"$T/err"
	"$@" >"$T/out" 2>"$T/err" &
	local pid=$! i
	for ((i = 0; i < 6000; i++)); do grep -qE -- "$waitfor" "$T/err" && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
	sleep 0.3
	kill -"$sig" $pid 2>/dev/null
	local rc=0
	wait $pid || rc=$?
	local why=()
	[[ $rc == "$want" ]] || why+=("exit $rc, want $want")
	grep -qE -- "$pattern" "$T/err" || why+=("no line matches /$pattern/")
	sleep 0.2
	no_strays || why+=("a QEMU or ringfence process is still running")
	local e
	for e in "${extra[@]}"; do eval "$e" || why+=("failed: $e"); done
	verdict "$name" "exit $want, /$pattern/" "${why[@]}"
}

# warn_regresses RESULTS: `ringfence compare` reads RESULTS and, against a
# baseline where its failed cases passed, names them as new failures (exit 1).
# (It used to compare the file with itself, which exits 0 whatever it holds.)
warn_regresses() {
	local rc=0
	sed 's/"status" : "fail"/"status" : "pass"/' "$1" >"$T/warn-baseline.json"
	cmp -s "$T/warn-baseline.json" "$1" && { echo "# $1 has no failed case" >&2; return 1; }
	"$BIN" compare "$T/warn-baseline.json" "$1" >"$T/compare.out" 2>&1 || rc=$?
	[[ $rc == 1 ]] && grep -q "newly failing" "$T/compare.out"
}

# A private cache with the package indexes but no kernels, so a run has to download.
fresh_cache() {
	local c=$1/ringfence
	mkdir -p "$c/apt"
	cp -a "$CACHE/apt/packages" "$CACHE/apt/sources.list" "$CACHE/apt/updated" "$CACHE/apt/status" "$c/apt/"
	mkdir -p "$c/apt/lists" && cp -a "$CACHE/configs" "$c/"
}

PLAN=45
echo "KTAP version 1"
echo "1..$PLAN"
printf '| fault | expected | result |\n|---|---|---|\n' >"$CHECK_TABLE"
O=$T/out-dirs

# --- before anything runs ------------------------------------------------------
check "unwritable --out stops before anything (exit 2)" 2 "--out /proc/ringfence.*(cannot|not writable)" -- "${RUN[@]}" --out /proc/ringfence/x
check "unwritable --results stops before anything (exit 2)" 2 "--results /proc/ringfence.*(cannot|not writable)" -- "${RUN[@]}" --results /proc/ringfence/r.json
check "--timeout 1e30 is refused (exit 2)" 2 "timeout wants a positive number" -- "${RUN[@]}" --timeout 1e30
check "--timeout 0 is refused (exit 2)" 2 "timeout wants a positive number" -- "${RUN[@]}" --timeout 0
check "an empty case file is refused before boot (exit 2)" 2 "empty.yaml:1: .*no cases" -- "${RUN[@]}" --cases "$ROOT/ci/fixtures/bad-cases/empty"
check "a negative case timeout is refused by the loader (exit 2)" 2 "t.yaml:2: .*timeout must be more than 0" -- "${RUN[@]}" --cases "$ROOT/ci/fixtures/bad-cases/timeout-negative"
check "a huge case timeout is refused by lint (exit 2)" 2 "t.yaml:2: .*at most 3600 seconds" -- "$BIN" lint "$ROOT/ci/fixtures/bad-cases/timeout-huge"
check "timeout: 0 is refused by lint (exit 2)" 2 "t.yaml:2: .*timeout must be more than 0" -- "$BIN" lint "$ROOT/ci/fixtures/bad-cases/timeout-zero"
mkdir -p "$T/full"
if mount -t tmpfs -o size=4m tmpfs "$T/full" 2>/dev/null; then
	check "a nearly full disk under --out stops before boot (exit 2)" 2 "only .* MB free under" -- "${RUN[@]}" --out "$T/full/out"
	umount "$T/full"
else
	skip "a nearly full disk under --out" "cannot mount a tmpfs here"
fi

KDIR=
for d in "$CACHE"/kernels/*-cloud-amd64; do [[ -f $d/config ]] && KDIR=$d; done   # a Debian kernel that ships its config
grep -v '^CONFIG_ACPI=\|^CONFIG_SERIAL_8250_CONSOLE=' "$KDIR/config" >"$T/noacpi.config"
check "a config without ACPI and the serial console stops before boot, naming both (exit 2)" 2 "CONFIG_SERIAL_8250_CONSOLE=y: .*" \
	'grep -q "CONFIG_ACPI=y: power-off" "$T/err"' '! grep -q booting "$T/err"' \
	'[[ $(grep -c "^  CONFIG_" "$T/err") == 2 ]]' \
	-- "${RUN[@]}" --kernel "$KDIR/vmlinuz" --config "$T/noacpi.config" --out "$O/noacpi"

# --- guest usage errors: exit 2 with the guest's own words ---------------------
check "guest: run --filter nomatch (exit 2, guest's message)" 2 "guest: ringfence: no case matches 'nomatch'" -- "${RUN[@]}" --out "$O/g1" -- run --cases /cases --filter nomatch
check "guest: run --bogus (exit 2, guest's message)" 2 "guest: .*[Uu]nknown option '--bogus'" -- "${RUN[@]}" --out "$O/g2" -- run --bogus
check "guest: fuzz --time 0 (exit 2, guest's message)" 2 "guest: .*time" -- "${RUN[@]}" --out "$O/g3" -- fuzz --time 0
check "ringfence crashing in the guest is a harness crash (exit 2)" 2 "ringfence crashed in the guest" '! grep -q "kernel WARN" "$T/out"' -- "${RUN[@]}" --out "$O/crash" -- selftest-fault crash

# --- kernel trouble ------------------------------------------------------------
check "a WARN during case 1 fails it in KTAP, results.json and JUnit (exit 1)" 1 "^ +not ok 1 fault: first case" \
	'grep -q "\"status\" : \"fail\"" "$O/warn/results.json"' \
	'grep -q "<failure" "$O/warn/results.junit.xml"' \
	'warn_regresses "$O/warn/results.json"' \
	-- "${RUN[@]}" --out "$O/warn" -- selftest-fault warn-in-case
check "a real kernel panic in a case fails the run (exit 1)" 1 "sysrq triggered crash" -- "${RUN[@]}" --out "$O/panic" -- selftest-fault panic-in-case
check "a hung guest is killed at --timeout (exit 1)" 1 "killed after the 40 s timeout" -- "${RUN[@]}" --timeout 40 --out "$O/hang" -- selftest-fault hang
check "no ACPI: the guest halts, the host stops it and judges the output (exit 0)" 0 "did not power off.*ACPI" \
	'! grep -q "timed out" "$T/out"' -- "${RUN[@]}" --append acpi=off --out "$O/acpi" --timeout 600 -- run --cases /cases --filter 'registration/command-header*'
# (The thresholds follow the 16.5 MB initramfs of ringfence-guest: 96M runs
# out of memory after the kernel started, 48M dies in silence before the
# serial console exists, 12M cannot even hold the initrd.)
# Out of memory is the set-up, not the kernel: exit 2, no per-case result
# anywhere (issue 20: --memory 64M used to report 421 failures).
check "--memory 96M: the guest's OOM is infrastructure, names --memory, no case results (exit 2)" 2 "ran out of memory.*--memory 96M" '! grep -q "booting once more" "$T/err"' \
	'[[ ! -e $O/mem96/results.json && -f $O/mem96/INCOMPLETE ]]' '! grep -q "^ *not ok" "$T/out"' -- "${RUN[@]}" --memory 96M --out "$O/mem96"
check "--memory 64M: infrastructure, names --memory, no case results (exit 2)" 2 "with --memory 64M.*raise --memory|ran out of memory.*--memory 64M" \
	'[[ ! -e $O/mem64/results.json && -f $O/mem64/INCOMPLETE ]]' '! grep -q "failed" "$T/out"' -- "${RUN[@]}" --memory 64M --out "$O/mem64"
check "--memory 48M: a silent death before init names --memory, no retry (exit 2)" 2 "before ringfence's init started.*with --memory 48M" '! grep -q "booting once more" "$T/err"' -- "${RUN[@]}" --memory 48M --out "$O/mem48"
check "--memory 12M: QEMU's 'initrd is too large' names --memory (exit 2)" 2 "initrd is too large.*--memory" -- "${RUN[@]}" --memory 12M --out "$O/mem12"

# --- signals, stale results and locks -------------------------------------------
mkdir -p "$O/int"; echo '{"stale": true}' >"$O/int/results.json"; echo 'pass=1' >"$O/int/summary.txt"   # an earlier run's (no manifest yet)
signal_after "SIGINT while the VM runs: exit 130, no stale results" INT "booting" 130 "interrupted by SIGINT while the VM was running" \
	'[[ ! -e $O/int/results.json && -f $O/int/INCOMPLETE ]]' -- "${RUN[@]}" --out "$O/int"
signal_after "SIGTERM while the VM runs: exit 143" TERM "booting" 143 "interrupted by SIGTERM" -- "${RUN[@]}" --out "$O/term"
"${RUN[@]}" --out "$O/shared" -- selftest-fault hang >/dev/null 2>&1 &
first=$!
for ((i = 0; i < 600; i++)); do [[ -e $O/.shared.run-$first ]] && break; sleep 0.05; done
ALLOW_RUNNING=1 check "a second run on the same --out gets a clear error (exit 2)" 2 "another ringfence vm is writing" -- "${RUN[@]}" --out "$O/shared"
kill -INT $first; wait $first 2>/dev/null
sleep 0.3
if no_strays; then ok "the first run, interrupted, leaves nothing running" "no QEMU"; else bad "the first run, interrupted, leaves nothing running" "no QEMU"; fi

C1=$T/cache1; fresh_cache "$C1"
signal_after "SIGINT while the kernel is fetched (download, check or unpack): exit 130, no partial file" INT "downloading" 130 "interrupted by SIGINT while (downloading|checking the downloaded|unpacking)" \
	'cache_clean "$C1/ringfence"' '[[ ! -d $C1/ringfence/kernels/$(ls "$CACHE/kernels" | head -n1) ]]' \
	-- env XDG_CACHE_HOME="$C1" "${RUN[@]}" --out "$O/dl"
C2=$T/cache2; fresh_cache "$C2"; mkdir -p "$C2/ringfence/debs"
for f in "$CACHE"/debs/linux-binary-*cloud-amd64*.deb; do head -c 100000 "$f" >"$C2/ringfence/debs/$(basename "$f")"; done
check "a truncated .deb in the cache is deleted and fetched again (exit 0)" 0 "does not match the SHA-256.*fetching it again" \
	'cache_clean "$C2/ringfence"' -- env XDG_CACHE_HOME="$C2" "${RUN[@]}" --out "$O/trunc" -- run --cases /cases --filter 'registration/command-header*'

# --- the host never destroys, never orphans (issue 20) ---------------------------
QUICKRUN=(-- run --cases /cases --filter 'registration/command-header*')
mkdir -p "$O/user/sub"; echo keep >"$O/user/precious.txt"; echo keep >"$O/user/sub/file"
user_intact='[[ $(cat "$O/user/precious.txt") == keep && $(cat "$O/user/sub/file") == keep && $(ls -A "$O/user" | wc -l) == 2 && $(ls -A "$O/user/sub") == file ]]'
check "--out on a directory of the user's is refused before the run, nothing in it touched (exit 2)" 2 "--out .*already holds 2 entries ringfence did not write" \
	"$user_intact" '! grep -q booting "$T/err"' -- "${RUN[@]}" --out "$O/user" "${QUICKRUN[@]}"
check "--out . in a directory of the user's is refused, nothing touched (exit 2)" 2 "--out \\. .*ringfence did not write" "$user_intact" \
	-- bash -c 'cd "$1" && shift && exec "$@"' _ "$O/user" "${RUN[@]}" --out . "${QUICKRUN[@]}"
check "--out naming a file is refused, the file kept (exit 2)" 2 "is not a directory" '[[ $(cat "$O/user/precious.txt") == keep ]]' \
	-- "${RUN[@]}" --out "$O/user/precious.txt" "${QUICKRUN[@]}"
echo mine >"$T/mine.json"
check "--results on a file ringfence did not write is refused before the run (exit 2)" 2 "--results .*not a ringfence results file" \
	'[[ $(cat "$T/mine.json") == mine ]]' '! grep -q booting "$T/err"' -- "${RUN[@]}" --out "$O/res" --results "$T/mine.json" "${QUICKRUN[@]}"
# A note a user adds to a results directory survives the next run; ringfence's files are replaced.
echo mine >"$O/trunc/notes.txt"; touch -d '2001-01-01' "$O/trunc/results.json"
check "a note in a results directory survives the next run, the results are replaced (exit 0)" 0 "passed" \
	'[[ $(cat "$O/trunc/notes.txt") == mine ]]' '[[ $O/trunc/results.json -nt $O/trunc/notes.txt ]]' '! grep -q notes.txt "$O/trunc/.ringfence-manifest"' \
	-- "${RUN[@]}" --out "$O/trunc" "${QUICKRUN[@]}"

# SIGKILL of the host: QEMU dies with it (PR_SET_PDEATHSIG), and the next
# run on that --out removes the staging and temporary directories it left.
: >"$T/err"
"$BIN" vm --accel tcg --cases "$ROOT/cases" --out "$O/kill" >/dev/null 2>"$T/err" &
kpid=$!
for ((i = 0; i < 600; i++)); do grep -q booting "$T/err" && pgrep -f "qemu-system.*$O/\.kill\.run-" >/dev/null && break; sleep 0.05; done
why=()
pgrep -f "qemu-system.*$O/\.kill\.run-" >/dev/null || why+=("QEMU was not running before the kill")
kill -KILL $kpid; wait $kpid 2>/dev/null
for ((i = 0; i < 50; i++)); do pgrep -f "qemu-system.*$O/\.kill\.run-" >/dev/null || break; sleep 0.1; done
pgrep -f "qemu-system.*$O/\.kill\.run-" >/dev/null && { why+=("QEMU still running 5 s after its parent was killed"); pkill -9 -f "qemu-system.*$O/\.kill\.run-"; }
[[ -d $O/.kill.run-$kpid ]] || why+=("no staging directory left to clean up (the check would prove nothing)")
compgen -G "${TMPDIR:-/tmp}/ringfence-vm.$kpid.*" >/dev/null || why+=("no temporary directory left to clean up")
verdict "SIGKILL of the host: QEMU gone within 5 s" "no QEMU" "${why[@]}"
check "the next run removes what the killed run left (exit 0)" 0 "passed" '[[ ! -e $O/.kill.run-'$kpid' ]]' '! compgen -G "${TMPDIR:-/tmp}/ringfence-vm.'$kpid'.*" >/dev/null' \
	-- "${RUN[@]}" --out "$O/kill" "${QUICKRUN[@]}"

# A damaged kernel: a truncated file in the kernel cache is found (size and
# SHA-256 recorded at unpack) and unpacked again; a damaged bzImage given with
# --kernel stops with exit 2 within 30 s instead of the 300 s timeout.
REL=$(basename "$KDIR")
C4=$T/cache4; fresh_cache "$C4"; ln -s "$CACHE/debs" "$C4/ringfence/debs"; mkdir -p "$C4/ringfence/kernels"
cp -a "$KDIR" "$C4/ringfence/kernels/"
# The record an unpack writes (so the check is the size check even where the main cache predates records).
{ echo "# ringfence: what was unpacked here (name size sha256), checked before every boot"
  for f in vmlinuz config; do echo "$f $(stat -c %s "$KDIR/$f") $(sha256sum "$KDIR/$f" | cut -d' ' -f1)"; done; } >"$C4/ringfence/kernels/$REL/.complete"
truncate -s 1000000 "$C4/ringfence/kernels/$REL/vmlinuz"
check "a truncated vmlinuz in the kernel cache is unpacked again before the boot (exit 0)" 0 "vmlinuz is 1000000 bytes.*unpacking .* again" \
	'cmp -s "$C4/ringfence/kernels/$REL/vmlinuz" "$KDIR/vmlinuz"' -- env XDG_CACHE_HOME="$C4" "${RUN[@]}" --kernel-version "${REL%%+*}" --out "$O/kc" "${QUICKRUN[@]}"
cp "$KDIR/vmlinuz" "$T/damaged-bzImage"
dd if=/dev/zero of="$T/damaged-bzImage" bs=64k seek=$(($(stat -c %s "$T/damaged-bzImage") / 131072)) count=1 conv=notrunc 2>/dev/null
t0=$(date +%s)
check "a damaged bzImage (64 KiB zeroed) is infrastructure, exit 2 within 30 s" 2 "image did not start: .*halted|printed nothing" \
	'[[ $(( $(date +%s) - t0 )) -le 30 ]]' '[[ -f $O/dmg/INCOMPLETE && ! -e $O/dmg/results.json ]]' -- "${RUN[@]}" --kernel "$T/damaged-bzImage" --out "$O/dmg" "${QUICKRUN[@]}"
head -c 3000000 "$KDIR/vmlinuz" >"$T/short-bzImage"
check "a truncated bzImage is refused before the boot (exit 2)" 2 "truncated: 3000000 bytes" '! grep -q booting "$T/err"' -- "${RUN[@]}" --kernel "$T/short-bzImage" --out "$O/short" "${QUICKRUN[@]}"
# --arch: the x86 kernel under qemu-system-aarch64 never prints a line; the
# silence ends the run (60 s), naming the architecture, not a timeout later.
check "--arch arm64 with an x86 bzImage: silence is infrastructure, exit 2 naming the architecture" 2 \
	"printed nothing in [0-9]+ s .*not an arm64 kernel qemu-system-aarch64 -machine virt can boot" \
	'[[ -f $O/arm64-x86/INCOMPLETE && ! -e $O/arm64-x86/results.json ]]' -- "${RUN[@]}" --arch arm64 --kernel "$KDIR/vmlinuz" --out "$O/arm64-x86"

# --bisect: git bisect run's contract (0 good, 1 bad, 125 skip).
mkdir -p "$T/badtree"; printf 'all:\n\tfalse\n%%:\n\t@echo "this tree does not build" >&2; false\n' >"$T/badtree/Makefile"
C5=$T/cache5; fresh_cache "$C5"   # its build directory goes with $T
check "--bisect: a kernel build that fails is skip (exit 125)" 125 "--bisect: exit 2 is skip" -- env XDG_CACHE_HOME="$C5" "${RUN[@]}" --bisect --build --tree "$T/badtree" --out "$O/bisect1"
check "--bisect: a damaged image is skip (exit 125)" 125 "--bisect: exit 2 is skip" -- "${RUN[@]}" --bisect --kernel "$T/damaged-bzImage" --out "$O/bisect2" "${QUICKRUN[@]}"
check "--bisect: a case failing on the kernel is bad (exit 1)" 1 "--bisect: exit 1 is bad" -- "${RUN[@]}" --bisect --out "$O/bisect3" -- selftest-fault warn-in-case
check "--bisect: a usage error is skip, never 2 (exit 125)" 125 "--bisect: exit 2 is skip" -- "${RUN[@]}" --bisect --timeout 0

# --- KVM that aborts: `--accel auto` falls back to TCG and remembers it -------
# Provoked for real where nested KVM fails (this project's machine: QEMU says
# "failed to set MSR 0x10a"), in a private cache without the memo whose
# kernels are the main cache's. Where KVM works, or there is none, both skip.
C3=$T/cache3; fresh_cache "$C3"
ln -s "$CACHE/kernels" "$C3/ringfence/kernels"; ln -s "$CACHE/debs" "$C3/ringfence/debs"
AUTO=("$ROOT/run-in-vm.sh" --no-build --accel auto)
QUICK=(-- run --cases /cases --filter 'registration/command-header*')
if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
	for what in "KVM that aborts falls back to TCG and is remembered" "a remembered KVM failure skips KVM"; do
		skip "$what" "no usable /dev/kvm"
	done
else
	rc=0
	env XDG_CACHE_HOME="$C3" "${AUTO[@]}" --out "$O/kvm1" "${QUICK[@]}" >"$T/out" 2>"$T/err" || rc=$?
	if [[ $rc == 0 ]] && ! grep -q "KVM did not work here" "$T/err" && grep -q "(kvm, " "$T/err"; then
		for what in "KVM that aborts falls back to TCG and is remembered" "a remembered KVM failure skips KVM"; do
			skip "$what" "KVM works on this machine"
		done
	else
		why=()
		[[ $rc == 0 ]] || why+=("exit $rc, want 0")
		grep -qE "KVM did not work here \(.+\); falling back to TCG" "$T/err" || why+=("no 'KVM did not work here (...); falling back to TCG'")
		grep -q "KVM did not work" "$O/kvm1/summary.txt" 2>/dev/null || why+=("no note in summary.txt")
		[[ $(sed -n 3p "$C3/ringfence/kvm-failed" 2>/dev/null) == *error* ]] || why+=("no memo with QEMU's error in $C3/ringfence/kvm-failed")
		no_strays || why+=("a QEMU or ringfence process is still running")
		verdict "KVM that aborts falls back to TCG and is remembered (exit 0)" "exit 0, memo written" "${why[@]}"
		check "a remembered KVM failure skips KVM (exit 0)" 0 "booting .*\(tcg, " \
			'! grep -q "(kvm, " "$T/err"' 'grep -q "KVM skipped: it failed on this machine before" "$O/kvm2/summary.txt"' \
			-- env XDG_CACHE_HOME="$C3" "${AUTO[@]}" --out "$O/kvm2" "${QUICK[@]}"
	fi
fi

# A check that never ran is a failure too: the plan must match what ran.
cp "$CHECK_TABLE" "${FAULTS_TABLE:-/dev/null}" 2>/dev/null
finish_checks faults "$PLAN"
