#!/usr/bin/env bash
# ci/faults-cli.sh: provokes, with the release binary, every user mistake the
# command line must answer with a short message that names the file or flag
# and says what to do (issue 20): symbolic-link loops in a cases directory,
# case files with several errors, out-of-range numbers, results files that
# are missing or directories, a compare gate that tested nothing, negative
# numbers, vm --arch without a kernel or a cross compiler, run-in-vm.sh's
# --help and Ctrl-C. The last check greps every
# captured stderr for a Foundation error dump or a Swift trap.
# Prints KTAP-ish lines (ok N name / not ok N name); exits 1 when one failed.
# Needs no VM and no kernel; about a minute.
#
# RINGFENCE_BIN and RINGFENCE_WRAPPER point it at another build (e.g. an
# older commit's, to see each check fail).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${RINGFENCE_BIN:-$ROOT/.build-release/release/ringfence}
WRAPPER=${RINGFENCE_WRAPPER:-$ROOT/run-in-vm.sh}
[[ -x $BIN ]] || { echo "faults-cli: no $BIN; build it: swift build -c release --static-swift-stdlib --scratch-path .build-release" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/ringfence-faults-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
ALLERR=$T/all-stderr
: >"$ALLERR"
# check() (ci/lib/check.sh): a command killed after 30 s is a hang; PATTERN
# must match a line of stderr; every stderr is kept for the last check.
CHECK_TIMEOUT=30 CHECK_STREAMS=err CHECK_LOG=$ALLERR
# shellcheck source=ci/lib/check.sh
source "$ROOT/ci/lib/check.sh"
PLAN=57
echo "1..$PLAN"

head -c 4096 /dev/zero >"$T/junk-kernel"   # ringfence vm reads the cases before the kernel
CASE='- name: allow filter lets NOP complete
  why: __io_uring_run_bpf_filters() allows when the program returns 1
  steps:
    - register: { opcode: NOP, program: "ret #1" }'

# --- case discovery: symbolic links -----------------------------------------
mkdir -p "$T/loop/area" "$T/self" "$T/twice/area"
echo "$CASE" >"$T/loop/area/a.yaml"; ln -s .. "$T/loop/area/up"
echo "$CASE" >"$T/self/a.yaml"; ln -s . "$T/self/self"
echo "$CASE" >"$T/twice/area/a.yaml"; ln -s area "$T/twice/same"; ln -s area/a.yaml "$T/twice/b.yaml"
check "lint: a link back to an enclosing directory (up -> ..) is an error naming it, not a hang" 2 "^area/up: a symbolic link back to the cases directory \(a loop\); remove the link" \
	-- "$BIN" lint "$T/loop"
check "run --cases: the same loop ends at once with exit 2" 2 "area/up: a symbolic link back" -- "$BIN" run --cases "$T/loop"
check "vm --cases: the same loop ends at once with exit 2" 2 "area/up: a symbolic link back" \
	-- "$BIN" vm --cases "$T/loop" --kernel "$T/junk-kernel" --write-initramfs "$T/initrd"
check "lint: self -> . is a loop, not every case twice" 2 "^self: a symbolic link back to the cases directory" \
	'! grep -q "cases in" "$T/out"' -- "$BIN" lint "$T/self"
check "list: a file and a directory reached by two links load once" 0 "" '[[ $(grep -c allow-filter "$T/out") == 1 ]]' \
	-- "$BIN" list --cases "$T/twice"

# --- case files: every error, clear messages -------------------------------
mkdir -p "$T/bad"
cat >"$T/bad/bad.yaml" <<'EOF'
- name: ""
  steps:
    - register: { opcode: 4294967296, program: "ret #1" }
    - register: { opcode: NOP, program: "ld #1\nret #1", padded_to: 1 }
    - register: { opcode: NOP, program: "ret #1", padded_to: 70000 }
    - submit: [ { op: 300 } ]
      expect: { cqes: [] }
- name: second
  steps:
    - register: { opcode: NOPE, program: "ret #1" }
EOF
check "lint reports every error of a file (6 here), not the first" 2 "6 error\(s\) in 1 file" \
	'[[ $(grep -c "^bad.yaml:" "$T/err") == 6 ]]' -- "$BIN" lint "$T/bad"
check "lint: name: \"\" is refused" 2 '^bad.yaml:1: \[0\].name: the name is empty; give the case' -- "$BIN" lint "$T/bad"
check "lint: padded_to below the program's length says so" 2 "padded_to 1 is less than the program's 2 instructions; pad to at least 2" -- "$BIN" lint "$T/bad"
check "lint: padded_to above the limit says the range" 2 "padded_to 70000 is out of range: 1 \(the program's length\) to 65535" -- "$BIN" lint "$T/bad"
check "lint: an out-of-range filter opcode says the range, not 'unknown opcode'" 2 "opcode 4294967296 is out of range: a filter's opcode \(__u32\) is 0 to 4294967295" \
	'! grep -q "unknown opcode .4294967296" "$T/err"' -- "$BIN" lint "$T/bad"
check "lint: an out-of-range SQE opcode says 0 to 255" 2 "opcode 300 is out of range: an SQE's opcode \(__u8\) is 0 to 255" -- "$BIN" lint "$T/bad"
python3 -c "import sys; sys.stdout.write('[' * 100000 + ']' * 100000 + '\n')" >"$T/deep.yaml"
check "lint: a 100,000-deep YAML is refused in one short line" 2 "deep.yaml:1: YAML nested deeper than" \
	'[[ $(wc -c <"$T/err") -lt 600 ]]' -- "$BIN" lint "$T/deep.yaml"
python3 -c "import sys; sys.stdout.write('{' + 'x' * 5000 + ' ]\n')" >"$T/long.yaml"
check "lint: a YAML syntax error echoes at most 200 characters of a line" 2 "long.yaml:1: YAML syntax" \
	'[[ $(awk "length > 260" "$T/err" | wc -l) == 0 ]]' -- "$BIN" lint "$T/long.yaml"
echo "$CASE" >"$T/one.yaml"
check "lint FILE.yaml lints that file" 0 "" 'grep -q "1 cases in 1 files OK" "$T/out"' -- "$BIN" lint "$T/one.yaml"
check "run --cases FILE.yaml is accepted (no 'no such directory')" 4 "ringfence: .*skipped" '! grep -q "no such" "$T/err"' \
	-- "$BIN" run --cases "$T/one.yaml"
# (the cases load before the kernel is read: a junk kernel's error proves they were accepted)
check "vm --cases FILE.yaml is accepted (no 'no such directory')" 2 "--kernel .*junk-kernel is not a bzImage" '! grep -q "no such directory" "$T/err"' \
	-- "$BIN" vm --cases "$T/one.yaml" --kernel "$T/junk-kernel" --write-initramfs "$T/initrd"
check "lint of a file that is no case file says a directory or .yaml is wanted" 2 "not a directory or a .yaml case file; name the cases directory" -- "$BIN" lint /etc/hostname

# --- results files: missing, a directory, not JSON -------------------------
mkdir -p "$T/resdir"
echo '{ not json' >"$T/bad.json"
for cmd in compare matrix junit ktap kcidb; do
	extra=(); [[ $cmd == compare ]] && extra=("$T/bad.json")
	check "$cmd on a missing file: no such file, what to give" 2 "^ringfence $cmd: $T/nothere.json: no such file; give a results file" -- "$BIN" $cmd "$T/nothere.json" "${extra[@]}"
	check "$cmd on a directory: is a directory, what to give" 2 "^ringfence $cmd: $T/resdir: is a directory; give the results.json" -- "$BIN" $cmd "$T/resdir" "${extra[@]}"
done
check "junit on a file that is not JSON says so in one line" 2 "bad.json: not a ringfence results file \(not valid JSON\)" '[[ $(wc -l <"$T/err") == 1 ]]' -- "$BIN" junit "$T/bad.json"

# --- compare: a gate that tested nothing fails -----------------------------
OLD=$ROOT/Tests/Fixtures/results/debian-7.3.4.json
"$BIN" run --cases "$ROOT/cases" --filter registration/ --results "$T/host.json" >/dev/null 2>&1
python3 - "$OLD" "$T" <<'EOF'
import json, sys
old = json.load(open(sys.argv[1]))
skip = dict(old); skip["cases"] = [dict(c, status="skip") for c in old["cases"]]
json.dump(skip, open(sys.argv[2] + "/allskip.json", "w"))
fewer = dict(old); fewer["cases"] = old["cases"][5:]
json.dump(fewer, open(sys.argv[2] + "/fewer.json", "w"))
EOF
check "compare OLD OLD passes (exit 0)" 0 "" -- "$BIN" compare "$OLD" "$OLD"
check "compare against a host run (all SKIP) fails: NEW ran no case (exit 4)" 4 "^ringfence compare: NEW ran no case \(all [0-9]+ skipped\)" -- "$BIN" compare "$OLD" "$T/host.json"
check "compare against an all-SKIP NEW fails even with --allow-removed (exit 4)" 4 "NEW ran no case \(all [0-9]+ skipped\)" -- "$BIN" compare --allow-removed "$OLD" "$T/allskip.json"
check "compare with OLD's cases missing from NEW fails (exit 3)" 3 "5 of OLD's cases are missing from NEW .*pass --allow-removed" -- "$BIN" compare "$OLD" "$T/fewer.json"
check "compare --allow-removed accepts the missing cases (exit 0)" 0 "" '[[ ! -s "$T/err" ]]' -- "$BIN" compare --allow-removed "$OLD" "$T/fewer.json"
check "compare --help documents the exit codes" 0 "" 'grep -q "4  NEW ran no case" "$T/out" && grep -q "allow-removed" "$T/out"' -- "$BIN" compare --help

# --- flags ------------------------------------------------------------------
check "run --known-bugs naming a missing file is an error (exit 2)" 2 "nothere.yaml: --known-bugs: no such file; name an existing known-bugs.yaml, or 'none'" \
	-- "$BIN" run --cases "$ROOT/ci/fixtures/cases" --known-bugs "$T/nothere.yaml"
check "vm -- run --known-bugs naming a missing file is an error (exit 2)" 2 "nothere.yaml: --known-bugs: no such file" \
	-- "$BIN" vm --cases "$ROOT/ci/fixtures/cases" --kernel "$T/junk-kernel" --write-initramfs "$T/initrd" -- run --cases /cases --known-bugs "$T/nothere.yaml"
check "run --results into a missing directory fails before any case runs" 2 "^ringfence: --results $T/no/dir/r.json: its directory $T/no/dir does not exist; create it" \
	'! grep -q "^KTAP\|^TAP\|^1\.\." "$T/out"' -- "$BIN" run --cases "$ROOT/ci/fixtures/cases" --results "$T/no/dir/r.json"
check "run --results naming a directory fails before any case runs" 2 "--results $T/resdir: is a directory; give a file name" \
	'[[ ! -s "$T/out" ]]' -- "$BIN" run --cases "$ROOT/ci/fixtures/cases" --results "$T/resdir"
check "run --timeout -1 says the range, not 'Missing value'" 2 "--timeout must be more than 0" '! grep -q "Missing value" "$T/err"' -- "$BIN" run --timeout -1
check "run --jobs -3 says the range, not 'Missing value'" 2 "--jobs must be 1 to 64" '! grep -q "Missing value" "$T/err"' -- "$BIN" run --jobs -3
check "vm --cpus -1 says the range, not 'Missing value'" 2 "--cpus wants 1 to 64, not -1" '! grep -q "Missing value" "$T/err"' -- "$BIN" vm --cpus -1
check "vm --timeout -5 says the range, not 'Missing value'" 2 "--timeout wants a positive number" '! grep -q "Missing value" "$T/err"' -- "$BIN" vm --timeout -5

# --- vm --arch: what a foreign architecture needs is named, exit 2 -----------
check "vm --arch s390x without --build or --kernel says which (exit 2)" 2 "--arch s390x needs --build .* or --kernel IMAGE: Debian's s390x kernel packages are in the index but not on the mirror" \
	-- "$BIN" vm --arch s390x --cases "$ROOT/ci/fixtures/cases"
check "vm --arch arm64 refuses the Swift guest's options by name (exit 2)" 2 "--arch arm64 runs the cases exported as C, not the Swift guest: --bench, --guest-binary do not go with it" \
	-- "$BIN" vm --arch arm64 --bench --guest-binary /bin/true --cases "$ROOT/ci/fixtures/cases"
# A fuzz seed gives the same cases in every process (each has its own hash seed): two
# model-against-7.0 runs print the same mismatches and reproducers.
fuzzrun() { "$BIN" fuzz --seed 9 --count 600 --model-vs 7.0 --print-reproducers 2>&1 | grep -v '/min' | md5sum; }
check "fuzz --seed 9 gives the same cases in two processes" 0 "" '[[ $(fuzzrun) == $(fuzzrun) ]]' -- "$BIN" --version
check "asm --byte-order middle lists the byte orders (exit 2)" 2 "Please provide one of 'little' and 'big'" -- "$BIN" asm --byte-order middle 'ret #1'
check "asm --byte-order big loads sqe_flags from the word's second byte from the top (rsh #16)" 0 "" \
	'"$BIN" asm --byte-order big "ld [sqe_flags]; ret a" | grep -q "{ 0x74, 0, 0, 0x00000010 }"' -- "$BIN" asm --byte-order big 'ld [sqe_flags]; ret a'
check "vm --arch mips lists the architectures (exit 2)" 2 "Please provide one of 'x86_64', 'arm64' or 's390x'" -- "$BIN" vm --arch mips
check "vm --arch arm64 --executor swift: the Swift guest is x86_64's only (exit 2)" 2 "--executor swift runs on x86_64 only .*--arch arm64 runs the cases exported as C" \
	-- "$BIN" vm --arch arm64 --executor swift --cases "$ROOT/ci/fixtures/cases"
check "vm --executor kselftest refuses the Swift guest's options by name (exit 2)" 2 "--executor kselftest runs the cases exported as C, not the Swift guest: guest arguments after -- does not go with it" \
	-- "$BIN" vm --executor kselftest --cases "$ROOT/ci/fixtures/cases" -- fuzz --time 5s
# No cross compiler: a PATH with every other tool the run needs, but not aarch64-linux-gnu-gcc.
mkdir -p "$T/nocross"
for tool in make qemu-system-aarch64 apt-get dpkg-deb; do
	p=$(command -v "$tool") && ln -sf "$p" "$T/nocross/$tool"
done
check "vm --arch arm64 without the cross compiler names its Debian package (exit 2)" 2 \
	"aarch64-linux-gnu-gcc not found \(the cases are cross-compiled statically for arm64\); install: apt-get install -y --no-install-recommends make gcc-aarch64-linux-gnu libc6-dev-arm64-cross" \
	'[[ ! -e "$T/arch-out" ]]' -- env PATH="$T/nocross" "$BIN" vm --arch arm64 --kernel "$T/junk-kernel" --cases "$ROOT/ci/fixtures/cases" --out "$T/arch-out"

# --- run-in-vm.sh: --help never builds, Ctrl-C while building is 130 ---------
mkdir -p "$T/fake" "$T/bare"
# A stand-in for swift: it marks that a build started, and like swift build
# it handles SIGINT itself and exits 1 (the wrapper then said "swift build
# failed", exit 2).
cat >"$T/fake/swift" <<EOF
#!/usr/bin/env bash
touch "$T/built"
sleep 60 & child=\$!
trap 'kill \$child; exit 1' INT TERM
wait
EOF
chmod +x "$T/fake/swift"
cp "$WRAPPER" "$T/bare/run-in-vm.sh"   # beside no binary
for flag in --help --version; do
	rm -f "$T/built"
	check "run-in-vm.sh $flag answers without building" 0 "" '[[ ! -e "$T/built" ]]' '[[ -s "$T/out" ]]' \
		-- env PATH="$T/fake:$PATH" bash "$WRAPPER" $flag
	rm -f "$T/built"
	check "run-in-vm.sh $flag with no binary built prints a short usage, no build" 0 "" '[[ ! -e "$T/built" ]]' 'grep -q "usage: ./run-in-vm.sh" "$T/out"' \
		-- env PATH="$T/fake:$PATH" bash "$T/bare/run-in-vm.sh" $flag
done
# Ctrl-C: SIGINT to the wrapper's whole process group, as a terminal sends it.
ctrl_c() {
	local rc=0
	set -m
	# SIGINT back to its default: started by a shell without job control (as
	# `.ci/run &` is), the whole tree inherits it ignored, and an ignored signal
	# cannot be trapped again in bash, so no Ctrl-C would ever arrive.
	env --default-signal=INT PATH="$T/fake:$PATH" bash "$T/bare/run-in-vm.sh" >"$T/out" 2>"$T/err" &
	local pid=$!
	set +m
	# Up to 30 s for the build to start: under CI's load 5 s was once too
	# short (the signal came before the stand-in swift, exit 2, 47 of 48).
	for _ in $(seq 300); do [[ -e $T/built ]] && break; sleep 0.1; done
	[[ -e $T/built ]] || { kill -KILL -- -"$pid" 2>/dev/null; wait "$pid"; bad "Ctrl-C during run-in-vm.sh's build exits 130" "exit 130" "the stand-in swift build never started within 30 s"; return; }
	sleep 0.3
	kill -INT -- -"$pid"
	wait "$pid" || rc=$?
	kill -KILL -- -"$pid" 2>/dev/null   # anything of that group still there
	{ echo "### ctrl-c"; cat "$T/err"; } >>"$ALLERR"
	if [[ $rc == 130 ]] && grep -q "interrupted while building" "$T/err"; then ok "Ctrl-C during run-in-vm.sh's build exits 130"
	else bad "Ctrl-C during run-in-vm.sh's build exits 130" "exit 130" "exit $rc, want 130"; fi
}
rm -f "$T/built"
ctrl_c

# --- no Foundation error dump, no Swift trap in any message above ------------
: >"$T/err"
if grep -nE "NSCocoaErrorDomain|Error Domain=|Fatal error|Swift runtime failure" "$ALLERR" >"$T/err"; then
	bad "no message above is a Foundation error dump or a Swift trap" "none" "found in the stderr of the checks above:"
else
	ok "no message above is a Foundation error dump or a Swift trap ($(grep -c '^###' "$ALLERR") commands' stderr)"
fi

finish_checks faults-cli "$PLAN"
