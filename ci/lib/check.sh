# ci/lib/check.sh: the check harness ci/faults.sh and ci/faults-cli.sh share.
# Sourced after the caller has made its private temporary directory $T.
# Prints KTAP-ish lines: `ok N name`, `not ok N name` with `#` reasons and
# the tail of the command's stderr.
#
# Settings (shell variables, before the first check):
#   CHECK_TIMEOUT  seconds after which a command counts as hung and is
#                  killed (0, the default: no limit)
#   CHECK_STREAMS  where PATTERN must match: "err" (stderr only) or
#                  "err out" (the default)
#   CHECK_LOG      a file every command's stderr is appended to, under a
#                  `### name` line (unset: none)
#   CHECK_TABLE    a file a markdown row `| name | expected | pass/FAIL |`
#                  per check is appended to (unset: none)
# A caller may define check_also: it runs after each command of check()
# and adds reasons to the array `why` (e.g. "a QEMU is still running").

n=0 fails=0
CHECK_TIMEOUT=${CHECK_TIMEOUT:-0}
CHECK_STREAMS=${CHECK_STREAMS:-err out}

# ok NAME [EXPECTED]
ok() {
	n=$((n + 1)); echo "ok $n $1"
	[[ -z ${CHECK_TABLE:-} ]] || printf '| %s | %s | pass |\n' "$1" "${2:-}" >>"$CHECK_TABLE"
}

# bad NAME EXPECTED [REASON...]
bad() {
	n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n $1"
	[[ -z ${CHECK_TABLE:-} ]] || printf '| %s | %s | FAIL |\n' "$1" "${2:-}" >>"$CHECK_TABLE"
	shift 2
	local l
	for l in "$@"; do echo "# $l"; done
	[[ -s $T/err ]] && tail -n 15 "$T/err" | cut -c1-300 | sed 's/^/#   /'
	return 0
}

# skip NAME REASON: counts as run (the plan includes it) and as passed.
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }

# verdict NAME EXPECTED REASON...: ok when no reason is given, else bad.
verdict() {
	local name=$1 expected=$2; shift 2
	if [[ $# == 0 ]]; then ok "$name" "$expected"; else bad "$name" "$expected" "$@"; fi
}

# check NAME WANT-EXIT PATTERN [extra test...] -- COMMAND...: runs COMMAND
# (stdin from /dev/null), wants its exit code, a line matching PATTERN
# (none wanted when PATTERN is empty), every extra test (a shell
# expression) to hold, and check_also to add no reason.
check() {
	local name=$1 want=$2 pattern=$3; shift 3
	local extra=()
	while [[ $1 != -- ]]; do extra+=("$1"); shift; done
	shift
	local rc=0 s files=()
	if [[ $CHECK_TIMEOUT != 0 ]]; then
		timeout -k 5 "$CHECK_TIMEOUT" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	else
		"$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	fi
	[[ -z ${CHECK_LOG:-} ]] || { echo "### $name"; cat "$T/err"; } >>"$CHECK_LOG"
	why=()
	[[ $CHECK_TIMEOUT != 0 ]] && [[ $rc == 124 || $rc == 137 ]] && why+=("killed after $CHECK_TIMEOUT s (a hang)")
	[[ $rc == "$want" ]] || why+=("exit $rc, want $want")
	for s in $CHECK_STREAMS; do files+=("$T/$s"); done
	[[ -z $pattern ]] || grep -qE -- "$pattern" "${files[@]}" || why+=("no line of $CHECK_STREAMS matches /$pattern/")
	! declare -F check_also >/dev/null || check_also
	local e
	for e in "${extra[@]}"; do eval "$e" || why+=("failed: $e"); done
	verdict "$name" "exit $want${pattern:+, /$pattern/}" "${why[@]}"
}

# finish_checks LABEL PLAN: the closing line; a check that never ran (or one
# too many) fails the script as surely as a failed one. Returns 0 when all
# PLAN checks ran and passed.
finish_checks() {
	local label=$1 plan=$2
	if [[ $n != "$plan" ]]; then echo "# $label: ran $n checks, the plan says $plan"; fails=$((fails + 1)); fi
	echo "# $label: $((n - fails)) of $plan passed"
	[[ $fails == 0 ]]
}
