# ci/lib/kernels.sh: what ci/matrix.sh and ci/fuzz-gate.sh share: option
# checks, their --out directory rule, the kernel list ("rc" = the newest
# release candidate in experimental) and running one job per kernel, N at a
# time. Sourced after ROOT and LABEL (the script's name in messages) are set.

die2() { echo "$LABEL: $*" >&2; exit 2; }

# need_value OPTION ARGC: OPTION was given a value ($# of the caller >= 2).
need_value() { [[ $2 -ge 2 ]] || die2 "$1 needs a value"; }
# need_positive OPTION VALUE
need_positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die2 "$1 needs a positive number, not '$2'"; }

# claim_out DIR: DIR becomes this script's output directory. It must be new,
# empty, an earlier run's of a ci/ script (its .ringfence-ci-out marker), or
# hold only names this script and ringfence write (KERNEL.ktap/.err/.json/
# .code, matrix.md/.json, ringfence results directories, their .lock files
# and staging directories); anything else is
# refused with exit 2, because the script overwrites those names.
claim_out() {
	local d=$1 e bad=()
	[[ ! -e $d || -d $d ]] || die2 "--out $d is not a directory"
	if [[ -d $d && ! -e $d/.ringfence-ci-out ]]; then
		for e in "$d"/* "$d"/.[!.]*; do
			[[ -e $e || -L $e ]] || continue
			case ${e##*/} in
			*.ktap | *.err | *.json | *.code | matrix.md | .*.lock) [[ -f $e && ! -L $e ]] && continue ;;
			.*.run-*) [[ -d $e && ! -L $e ]] && continue ;;   # a killed run's staging directory
			*) [[ -d $e && ! -L $e && -e $e/.ringfence-manifest ]] && continue ;;
			esac
			bad+=("${e##*/}")
		done
		[[ ${#bad[@]} == 0 ]] || die2 "--out $d holds files $LABEL did not write (${bad[*]:0:3}); give a new or empty directory"
	fi
	mkdir -p "$d" && echo "$LABEL" >"$d/.ringfence-ci-out" || die2 "cannot write to --out $d"
}

# set_nobuild: NOBUILD is (--no-build) when the options after -- have it.
set_nobuild() {
	local a
	NOBUILD=()
	for a in "${EXTRA[@]}"; do [[ $a == --no-build ]] && NOBUILD=(--no-build); done
	return 0
}

# prepare_kernels KERNEL...: sets NOBUILD (set_nobuild), refreshes the
# package indexes once, before any parallel boot, so concurrent runs never
# refresh the same cache, and sets RC to the newest
# release candidate when "rc" is listed (empty when experimental has none).
prepare_kernels() {
	local k
	RC=
	set_nobuild
	"$ROOT/run-in-vm.sh" "${NOBUILD[@]}" --list-kernels --experimental >/dev/null 2>&1 || true
	for k in "$@"; do [[ $k == rc ]] && RC=$(newest_rc); done
	return 0
}

# The newest release candidate: the first "~rc" upstream version listed.
newest_rc() {
	"$ROOT/run-in-vm.sh" --no-build --list-kernels --experimental 2>/dev/null | awk 'NR > 1 && $2 ~ /~rc/ { print $2; exit }'
}

# kernel_args KERNEL: sets KARGS to run-in-vm.sh's options for KERNEL; returns
# 1 for "rc" when experimental has no release candidate.
kernel_args() {
	KARGS=(--kernel-version "$1")
	if [[ $1 == rc ]]; then
		[[ -n $RC ]] || return 1
		KARGS=(--experimental --kernel-version "$RC")
	elif [[ $1 == *~rc* ]]; then
		KARGS=(--experimental --kernel-version "$1")
	fi
}

# run_jobs JOBS FUNCTION KERNEL...: FUNCTION INDEX KERNEL (INDEX from 1) for
# each kernel, JOBS at a time; returns when all have ended. FUNCTION leaves
# its outcome in files: its exit status is not kept.
run_jobs() {
	local jobs=$1 fn=$2 i=0 k; shift 2
	for k in "$@"; do
		i=$((i + 1))
		if [[ $jobs -le 1 ]]; then "$fn" "$i" "$k"; continue; fi
		while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || true; done
		"$fn" "$i" "$k" &
	done
	wait
}
