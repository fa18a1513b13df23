#!/usr/bin/env bash
# Shell tests for run-in-vm.sh (a wrapper of `ringfence vm`): argument handling, --help, and the initramfs
# contents (built offline against a stand-in bzImage: no download, no boot).
# Set RINGFENCE_TEST_BOOT=1 to also boot the default kernel (needs the
# network or a cached kernel) and check the verdict.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT=$ROOT/run-in-vm.sh
CASES=$ROOT/ci/fixtures/cases
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0 count=0

pass() { count=$((count + 1)); echo "ok $count $1"; }
fail() { count=$((count + 1)); fails=$((fails + 1)); echo "not ok $count $1"; [[ -f $T/err ]] && sed 's/^/#   /' "$T/err"; }

# expect_exit CODE PATTERN NAME -- COMMAND...: exit status and a stderr match.
expect_exit() {
	local code=$1 pattern=$2 name=$3; shift 4
	local rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	if [[ $rc == "$code" ]] && grep -q -- "$pattern" "$T/err" "$T/out"; then pass "$name"
	else echo "# exit $rc (want $code), pattern '$pattern'"; fail "$name"; fi
}

PLAN=31
echo "KTAP version 1"
echo "1..$PLAN"

rc=0; "$SCRIPT" --help >"$T/out" 2>"$T/err" || rc=$?
cp "$T/out" "$T/help"
if [[ $rc == 0 ]] && grep -q -- '--kernel-version' "$T/out" && grep -q -- '--accel <accel>' "$T/out" && grep -q 'Exit codes' "$T/out"; then pass "--help"; else fail "--help"; fi
expect_exit 2 "Unknown option '--bogus'" "unknown option" -- "$SCRIPT" --bogus
expect_exit 2 "The value 'warp' is invalid for '--accel" "bad --accel" -- "$SCRIPT" --accel warp
expect_exit 2 "The value 'soon' is invalid for '--timeout" "bad --timeout" -- "$SCRIPT" --timeout soon
expect_exit 2 '--timeout wants a positive number' "zero --timeout" -- "$SCRIPT" --timeout 0
expect_exit 2 "Missing value for '--kernel-version" "missing value" -- "$SCRIPT" --kernel-version
expect_exit 2 '--memory wants' "bad --memory" -- "$SCRIPT" --memory lots
expect_exit 2 'exclude each other' "--kernel with --kernel-version" -- "$SCRIPT" --kernel /dev/null --kernel-version 7.3
expect_exit 2 'does not go with --kernel' "--list-kernels with --kernel" -- "$SCRIPT" --kernel /dev/null --list-kernels
expect_exit 2 'go with --kernel' "--modules without --kernel" -- "$SCRIPT" --modules /tmp
expect_exit 2 'no such file' "missing --kernel file" -- "$SCRIPT" --kernel "$T/nope"
expect_exit 2 'no such directory' "missing --cases dir" -- "$SCRIPT" --cases "$T/nope"
# --arch passes through to ringfence vm, and --help documents it.
if grep -q -- '--arch <ARCH>' "$T/help" && grep -q 'Other architectures (--arch arm64, --arch s390x)' "$T/help"; then pass "--help documents --arch"; else fail "--help documents --arch"; fi
expect_exit 2 '--arch s390x needs --build' "--arch s390x without --build or --kernel" -- "$SCRIPT" --no-build --arch s390x --cases "$CASES"

# No QEMU on PATH: a set-up error, with the apt line to fix it.
mkdir -p "$T/bin"
ln -s "$(command -v dirname)" "$T/bin/dirname"
expect_exit 2 'qemu-system-x86_64.* not found; install: apt-get install' "missing qemu" -- env PATH="$T/bin" /bin/bash "$SCRIPT" --no-build --cases "$CASES"

# A stand-in bzImage: setup header magic "HdrS" at 0x202, the kernel version
# string pointer (minus 0x200) at 0x20E.
fake_bzimage() {
	local f=$1 release=$2
	head -c 4096 /dev/zero >"$f"
	printf 'HdrS' | dd of="$f" bs=1 seek=514 conv=notrunc status=none
	printf '\x00\x08' | dd of="$f" bs=1 seek=526 conv=notrunc status=none   # 0x0800 + 0x200 = 0xA00
	printf '%s (builder@ci) #1 SMP\0' "$release" | dd of="$f" bs=1 seek=2560 conv=notrunc status=none
}
fake_bzimage "$T/bzImage" 7.9.0-ringfence-test
expect_exit 2 'not a bzImage' "--kernel that is not a bzImage" -- "$SCRIPT" --no-build --cases "$CASES" --kernel /etc/hostname

build_args=(--no-build)
[[ -x $ROOT/.build-release/release/ringfence ]] || build_args=()
rc=0
"$SCRIPT" "${build_args[@]}" --kernel "$T/bzImage" --cases "$CASES" --write-initramfs "$T/initrd.cpio" >"$T/out" 2>"$T/err" || rc=$?
if [[ $rc == 0 ]] && grep -q 'initramfs for 7.9.0-ringfence-test written' "$T/err"; then pass "--write-initramfs with --kernel"; else fail "--write-initramfs with --kernel"; fi

cpio -it <"$T/initrd.cpio" 2>/dev/null | sed 's|^\./||' >"$T/list" || true
missing=
for want in init dev/console proc sys tmp cases/suite.rfcases; do
	grep -qx "$want" "$T/list" || missing+=" $want"
done
# The cases travel compiled (the guest has no YAML parser), never as YAML.
if grep -q '^cases/.*\.yaml$' "$T/list"; then missing+=" (YAML case files in the archive)"; fi
GUEST=$ROOT/.build-release/release/ringfence-guest
loader=$(ldd "$GUEST" 2>/dev/null | awk '!/=>/ && $1 ~ /^\// { print $1 }' || true)
libs=$(ldd "$GUEST" 2>/dev/null | awk '/=>/ && $3 ~ /^\// { print $3 }' || true)
for want in $loader $libs; do
	grep -qx "${want#/}" "$T/list" || missing+=" $want"
done
if [[ -z $missing ]]; then pass "initramfs holds /init (ringfence-guest), $(echo $libs | wc -w) shared libraries and the compiled cases"
else echo "# missing:$missing"; fail "initramfs contents"; fi
echo "# loader ${loader:-none (static)}; libraries: $(echo $libs)"

# The guest must be able to run /init: a static ELF, or its loader is in the archive.
(cd "$T" && cpio -i --quiet init <"$T/initrd.cpio" 2>/dev/null) || true
interp=$(readelf -l "$T/init" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
if [[ -s $T/init ]] && { [[ -z $interp ]] || grep -qx "${interp#/}" "$T/list"; }; then pass "/init runs: ELF interpreter ${interp:-none (static)}"; else fail "/init: ELF interpreter $interp missing"; fi
size=$(stat -c %s "$T/initrd.cpio")
if (( size <= 20 * 1024 * 1024 )); then pass "initramfs is $((size / 1024)) KiB (at most 20 MiB)"; else fail "initramfs is $((size / 1024)) KiB, more than 20 MiB"; fi

# Kernel catalog, offline: a pre-seeded private index for a placeholder mirror.
seed_cache() {
	local cache=$T/cache-$1
	mkdir -p "$cache/ringfence/apt/packages"
	for suite in sid trixie-backports experimental; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.invalid/debian $suite main"
	done >"$cache/ringfence/apt/sources.list"
	touch "$cache/ringfence/apt/updated"
	echo 2 >"$cache/ringfence/apt/packages/.format"   # the reduced index format KernelStore writes
	echo "$cache"
}
stanza() {
	printf 'Package: linux-%s-%s-cloud-amd64\nVersion: %s\nFilename: pool/main/l/linux/x_%s.deb\nSize: 1\n\n' "$1" "$2" "$3" "$3"
}
C=$(seed_cache old)
{ stanza binary 6.19.14+deb13 6.19.14-1~bpo13+1; stanza binary 6.12.9+deb13 6.12.9-1; } >"$C/ringfence/apt/packages/trixie-backports.Packages"
: >"$C/ringfence/apt/packages/sid.Packages"
expect_exit 2 'no kernel >= 7.0 with CONFIG_IO_URING_BPF=y' "only pre-7.0 kernels: set-up error" -- \
	env XDG_CACHE_HOME="$C" "$SCRIPT" "${build_args[@]}" --cases "$CASES" --mirror http://mirror.invalid/debian
expect_exit 2 "no Debian cloud kernel matches '7.9'" "unknown --kernel-version" -- \
	env XDG_CACHE_HOME="$C" "$SCRIPT" "${build_args[@]}" --cases "$CASES" --mirror http://mirror.invalid/debian --kernel-version 7.9

C=$(seed_cache list)
{ stanza binary 7.0.13+deb13 7.0.13-1~bpo13+1; stanza binary 7.3.4+deb13 7.3.4-1~bpo13+1; stanza modules 7.3.4+deb13 7.3.4-1~bpo13+1; } \
	>"$C/ringfence/apt/packages/trixie-backports.Packages"
stanza binary 7.4 7.4~rc3-1~exp1 >"$C/ringfence/apt/packages/experimental.Packages"
: >"$C/ringfence/apt/packages/sid.Packages"
rc=0
env XDG_CACHE_HOME="$C" "$SCRIPT" "${build_args[@]}" --cases "$CASES" --mirror http://mirror.invalid/debian --list-kernels >"$T/out" 2>"$T/err" || rc=$?
if [[ $rc == 0 ]] && [[ $(awk 'NR > 1 { print $1 }' "$T/out" | tr '\n' ' ') == "7.3.4+deb13-cloud-amd64 7.0.13+deb13-cloud-amd64 " ]]; then
	pass "--list-kernels: newest first, experimental hidden"
else sed 's/^/#   /' "$T/out"; fail "--list-kernels"; fi
rc=0
env XDG_CACHE_HOME="$C" "$SCRIPT" "${build_args[@]}" --cases "$CASES" --mirror http://mirror.invalid/debian --list-kernels --experimental >"$T/out" 2>"$T/err" || rc=$?
if [[ $rc == 0 ]] && [[ $(awk 'NR == 2 { print $1, $2, $3 }' "$T/out") == "7.4-cloud-amd64 7.4~rc3 experimental" ]]; then
	pass "--list-kernels --experimental: the release candidate comes first"
else sed 's/^/#   /' "$T/out"; fail "--list-kernels --experimental"; fi
# Asking for a release candidate looks in experimental without --experimental
# (the download from the placeholder mirror then fails: a set-up error).
expect_exit 2 'downloading linux-binary-7.4-cloud-amd64 7.4~rc3-1~exp1 failed' "--kernel-version 7.4~rc3 implies --experimental" -- \
	env XDG_CACHE_HOME="$C" timeout 120 "$SCRIPT" "${build_args[@]}" --cases "$CASES" --mirror http://mirror.invalid/debian --kernel-version 7.4~rc3

# An unreachable mirror is a set-up error, not a hang.
C=$T/cache-fresh
expect_exit 2 'apt-get update of the private kernel index failed' "unreachable mirror" -- \
	env XDG_CACHE_HOME="$C" timeout 120 "$SCRIPT" "${build_args[@]}" --cases "$CASES" --mirror http://mirror.invalid/debian --list-kernels

if [[ ${RINGFENCE_TEST_BOOT:-0} == 1 ]]; then
	rc=0
	"$SCRIPT" "${build_args[@]}" --cases "$CASES" --out "$T/out-vm" >"$T/out" 2>"$T/err" || rc=$?
	if [[ $rc == 0 ]] && grep -q '^ok 1 01-smoke' "$T/out-vm/results.ktap" && grep -q 'accel \(kvm\|tcg\)' "$T/out"; then
		pass "boot: default kernel runs the suite ($(grep -o 'accel [a-z]*: boot [^,]*, suite [^,]*' "$T/out"))"
	else cat "$T/out" "$T/err" | sed 's/^/#   /'; fail "boot"; fi

	# A KVM that hangs silently (firmware banner only): --accel auto must
	# give up on it and boot with TCG. A stand-in QEMU plays the broken KVM.
	mkdir -p "$T/fakebin"
	cat >"$T/fakebin/qemu-system-x86_64" <<'FAKE'
#!/bin/bash
for a in "$@"; do case $a in kvm) kvm=1 ;; file:*) log=${a#file:} ;; esac; done
prev=; for a in "$@"; do [[ $prev == -pidfile ]] && echo $$ >"$a"; prev=$a; done
if [[ -n ${kvm:-} ]]; then echo "SeaBIOS (version stand-in)" >"$log"; exec sleep 600; fi
exec /usr/bin/qemu-system-x86_64 "$@"
FAKE
	chmod +x "$T/fakebin/qemu-system-x86_64"
	if [[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]]; then
		# A cache that shares the kernels but has no memory of KVM failing here.
		K=$T/cache-kvm/ringfence; mkdir -p "$K"
		for d in apt configs kernels debs init; do ln -s "${XDG_CACHE_HOME:-$HOME/.cache}/ringfence/$d" "$K/$d"; done
		rc=0
		XDG_CACHE_HOME=$T/cache-kvm PATH="$T/fakebin:$PATH" "$SCRIPT" --no-build --cases "$CASES" --out "$T/out-fake" >"$T/out" 2>"$T/err" || rc=$?
		if [[ $rc == 0 ]] && grep -q 'falling back to TCG' "$T/err" && grep -q 'accel tcg' "$T/out"; then pass "silent KVM falls back to TCG"
		else cat "$T/out" "$T/err" | sed 's/^/#   /'; fail "silent KVM falls back to TCG"; fi
	else
		count=$((count + 1)); echo "ok $count silent KVM falls back to TCG # SKIP /dev/kvm not usable"
	fi
else
	count=$((count + 1)); echo "ok $count boot # SKIP set RINGFENCE_TEST_BOOT=1"
	count=$((count + 1)); echo "ok $count silent KVM falls back to TCG # SKIP set RINGFENCE_TEST_BOOT=1"
fi

# --bisect: a failed build of ringfence itself is git bisect run's "skip"
# (125), never 1 (which would mark the kernel commit bad); without it, 2.
mkdir -p "$T/badswift"
printf '#!/bin/sh\necho "error: stand-in swift: this build fails" >&2\nexit 1\n' >"$T/badswift/swift"
chmod +x "$T/badswift/swift"
expect_exit 125 "swift build failed" "--bisect: a failed build of ringfence is skip (125)" -- env PATH="$T/badswift:$PATH" "$SCRIPT" --bisect
expect_exit 2 "swift build failed" "a failed build of ringfence is a set-up error (2)" -- env PATH="$T/badswift:$PATH" "$SCRIPT"
expect_exit 125 "no ringfence binary\|--bisect: exit 2 is skip" "--bisect: a usage error is skip (125)" -- "$SCRIPT" --no-build --bisect --timeout 0

# The plan is what ran: a check that did not run is a failure too.
if [[ $count != "$PLAN" ]]; then echo "# ran $count checks, the plan says $PLAN"; fails=$((fails + 1)); fi
exit $((fails > 0))
