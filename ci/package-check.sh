#!/usr/bin/env bash
# ci/package-check.sh: the Debian package end to end (issue 25), as root:
# build it (ci/package.sh), lintian (errors fail), apt-get install it, run
# `ringfence vm` from / with swift off the PATH and no environment (a real
# boot of Debian's 7.3.4 under QEMU), check the man page renders and
# `ringfence --version`, then apt-get remove it.
#
#   ci/package-check.sh [--no-build] [--kernel-version V]
#
# Exit 0 when every step passed; 1 otherwise.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo
KVER=7.3.4 pkgargs=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--no-build) pkgargs+=(--no-build); shift ;;
	--kernel-version) KVER=$2; shift 2 ;;
	*) echo "package-check: unknown argument $1" >&2; exit 2 ;;
	esac
done
fail() { echo "package-check: FAIL: $*" >&2; exit 1; }
step() { echo "package-check: $*" >&2; }

export DEBIAN_FRONTEND=noninteractive
need=()
command -v lintian >/dev/null || need+=(lintian)
command -v man >/dev/null || need+=(man-db)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
if [[ ${#need[@]} -gt 0 ]]; then
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

WORK=$(mktemp -d)
installed=0
cleanup() {
	[[ $installed == 1 ]] && $SUDO apt-get remove -y -qq ringfence >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

step "building the package"
deb=$("$ROOT/ci/package.sh" "${pkgargs[@]}" --out "$WORK")
[[ -f $deb ]] || fail "ci/package.sh wrote no package"
step "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"

step "lintian"
# Errors fail; warnings are listed and justified in docs/packaging.md.
lintian --fail-on error "$deb" | tee "$WORK/lintian.txt" >&2 || fail "lintian reported errors"
grep -q '^E:' "$WORK/lintian.txt" && fail "lintian reported errors"

step "apt-get install"
$SUDO apt-get install -y -qq "$deb" >/dev/null || fail "apt-get install $deb"
installed=1
[[ $(command -v ringfence) == /usr/bin/ringfence ]] || fail "ringfence is not /usr/bin/ringfence on the PATH"

# PATH without any directory that holds swift.
nosw=
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do [[ -n $d && ! -x $d/swift ]] && nosw+=${nosw:+:}$d; done
env -i PATH="$nosw" sh -c 'command -v swift' >/dev/null && fail "swift is still on $nosw"

step "ringfence --version"
v=$(cd / && env -i PATH="$nosw" ringfence --version)
echo "  $v" >&2
[[ $v == *"commit "* && $v == *"Debian package"* ]] || fail "ringfence --version: '$v' names no package version and commit"

step "man -l ringfence.1.gz"
page=$(MANWIDTH=80 man -l /usr/share/man/man1/ringfence.1.gz 2>&1) || fail "man -l failed"
grep -q 'SYNOPSIS' <<<"$page" && grep -q 'ringfence' <<<"$page" || fail "the man page does not render"
for f in /usr/share/bash-completion/completions/ringfence /usr/share/zsh/vendor-completions/_ringfence \
	/usr/share/fish/vendor_completions.d/ringfence.fish; do
	[[ -s $f ]] || fail "no completion $f"
done
bash -n /usr/share/bash-completion/completions/ringfence || fail "the bash completion does not parse"

step "cd / && ringfence vm --kernel-version $KVER -- run --cases /cases --filter 'registration/command-header*' (swift off the PATH, no environment)"
set +e
(cd / && env -i PATH="$nosw" HOME="${HOME:-/root}" ringfence vm --kernel-version "$KVER" --out "$WORK/out" \
	-- run --cases /cases --filter 'registration/command-header*') >"$WORK/vm.txt" 2>"$WORK/vm.err"
rc=$?
set -e
tail -n 3 "$WORK/vm.txt" >&2
[[ $rc == 0 ]] || { cat "$WORK/vm.err" >&2; fail "ringfence vm exited $rc"; }
grep -q '^# Totals: pass:[1-9]' "$WORK/vm.txt" || fail "ringfence vm passed no case"

step "apt-get remove"
$SUDO apt-get remove -y -qq ringfence >/dev/null || fail "apt-get remove ringfence"
installed=0
[[ ! -e /usr/bin/ringfence && ! -e /usr/lib/ringfence ]] || fail "apt-get remove left files behind"
step "OK"
