#!/usr/bin/env bash
# ci/package.sh: build ringfence_<version>_amd64.deb, a Debian package that
# runs without Swift (docs/packaging.md describes its layout and lintian).
#
#   ci/package.sh [--no-build] [--out DIR]
#
# Builds the release binaries (swift build -c release --static-swift-stdlib
# --scratch-path .build-release: ringfence and ringfence-guest) unless
# --no-build, generates ringfence(1) with swift-argument-parser's
# generate-manual plugin's tool and the bash/zsh/fish completions with
# `ringfence --generate-completion-script`, and writes the package to DIR
# (default: the checkout's top directory). Prints the package's path.
# Maintainer: RINGFENCE_MAINTAINER="Name <address>", else the last commit's author.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRATCH=$ROOT/.build-release
OUT=$ROOT build=1
while [[ $# -gt 0 ]]; do
	case $1 in
	--no-build) build=0; shift ;;
	--out) [[ $# -ge 2 ]] || { echo "package: --out needs a directory" >&2; exit 2; }; OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "package: unknown argument $1" >&2; exit 2 ;;
	esac
done
die() { echo "package: error: $*" >&2; exit 2; }
for t in dpkg-deb dpkg-shlibdeps strip gzip git; do command -v "$t" >/dev/null || die "$t not found (apt-get install dpkg-dev binutils gzip git)"; done
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)

cd "$ROOT"
if [[ $build == 1 ]]; then
	command -v swift >/dev/null || die "swift not found (or pass --no-build with $SCRATCH/release built)"
	echo "package: swift build -c release --static-swift-stdlib --scratch-path .build-release" >&2
	swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" >&2 || die "swift build failed"
fi
BIN=$SCRATCH/release
for b in ringfence ringfence-guest; do [[ -x $BIN/$b ]] || die "no $BIN/$b (drop --no-build)"; done

# --- version: <compiled-in version>+git<commit date>.<short hash>-1 -----------
base=$(sed -n 's/.*public static let string = "\([^"]*\)".*/\1/p' Sources/RingfenceCore/Report/KTAPWriter.swift)
[[ -n $base ]] || die "cannot read RingfenceVersion.string from Sources/RingfenceCore/Report/KTAPWriter.swift"
commit=$(git rev-parse HEAD) short=$(git rev-parse --short=7 HEAD)
date=$(TZ=UTC git show -s --format=%cd --date=format-local:%Y%m%d HEAD)
if desc=$(git describe --tags --exact-match 2>/dev/null); then
	upstream=${desc#v}
else
	upstream=$base+git$date.$short
fi
dirty=
git diff --quiet HEAD -- Sources Package.swift cases ci 2>/dev/null || dirty=.dirty
VERSION=$upstream$dirty-1
[[ $VERSION =~ ^[0-9][A-Za-z0-9.+~]*-1$ ]] || die "bad Debian version $VERSION"
MAINT=${RINGFENCE_MAINTAINER:-$(git show -s --format='%an <%ae>' HEAD)}
echo "package: version $VERSION (commit $commit)" >&2

# --- man page and completions, from the binary itself ----------------------
GEN=$(mktemp -d)
STAGE=$(mktemp -d)
trap 'rm -rf "$GEN" "$STAGE"' EXIT
# ringfence(1) comes from swift-argument-parser's generate-manual plugin, run
# the way the plugin runs it: its tool (the package's generate-manual product)
# on the built executable. `swift package plugin generate-manual` itself
# rebuilds every product without --static-swift-stdlib (swift package has no
# such option), relinking .build-release's binaries against the shared Swift
# runtime (12m40s here, 2 busy cores); docs/packaging.md.
tool=$SCRATCH/release/generate-manual
if [[ $build == 1 ]]; then
	swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH" --product generate-manual >&2 \
		|| die "swift build --product generate-manual failed"
fi
[[ -x $tool ]] || die "no $tool (drop --no-build)"
"$tool" "$BIN/ringfence" --output-directory "$GEN" --authors "the ringfence authors" --section 1 >&2
man_src=$GEN/ringfence.1
[[ -s $man_src ]] || die "generate-manual wrote no ringfence.1"
# The guest's binary is static; the host's must not need the Swift runtime.
if ldd "$BIN/ringfence" | grep -q libswiftCore; then
	die "$BIN/ringfence links the shared Swift runtime (built without --static-swift-stdlib?): drop --no-build"
fi

# --- the tree ----------------------------------------------------------------
P=$STAGE/pkg
install -d -m 0755 "$P/DEBIAN" "$P/usr/bin" "$P/usr/lib/ringfence" "$P/usr/share/ringfence/ci" \
	"$P/usr/share/doc/ringfence/docs" "$P/usr/share/man/man1" \
	"$P/usr/share/bash-completion/completions" "$P/usr/share/zsh/vendor-completions" \
	"$P/usr/share/fish/vendor_completions.d"
# As dh_strip does: no symbols, no .comment/.note (the guest is stripped again
# by `ringfence vm`, which only needs it executable).
for b in ringfence:usr/bin ringfence-guest:usr/lib/ringfence; do
	strip --remove-section=.comment --remove-section=.note --strip-unneeded \
		-o "$P/${b#*:}/${b%%:*}" "$BIN/${b%%:*}"
	chmod 0755 "$P/${b#*:}/${b%%:*}"
done
cp -R cases "$P/usr/share/ringfence/cases"
# What `ringfence vm --build [--hunt] [--coverage] [--debug] [--arch A]` reads
# at run time: every config fragment (ci/ringfence*.config, the debug and the
# architectures' ones too) and the coverage scripts.
for f in ci/ringfence*.config ci/coverage.sh ci/coverage-summary.py; do
	install -m 0644 "$f" "$P/usr/share/ringfence/ci/${f#ci/}"
done
install -d -m 0755 "$P/usr/share/lintian/overrides"
install -m 0644 ci/debian/lintian-overrides "$P/usr/share/lintian/overrides/ringfence"
printf '%s (commit %s, Debian package)\n' "$VERSION" "$commit" >"$P/usr/share/ringfence/VERSION"
install -m 0644 README.md "$P/usr/share/doc/ringfence/README.md"
for f in docs/*; do install -m 0644 "$f" "$P/usr/share/doc/ringfence/docs/"; done
# generate-manual copies help text verbatim: a text line that starts with a
# control character ("'fuzz: …", ".ringfence-manifest; …") is read as an
# unknown macro, and a blank line is not mdoc. Escape the one, paragraph the other.
sed -e "s/^'/\\\\\&'/" -e 's/^\.\([a-z]\)/\\\&.\1/' -e 's/^$/.Pp/' "$man_src" | gzip -9n >"$P/usr/share/man/man1/ringfence.1.gz"
# Sourced by bash-completion, not run: no #! line (lintian bash-completion-with-hashbang).
"$BIN/ringfence" --generate-completion-script bash | sed '1{/^#!/d}' >"$P/usr/share/bash-completion/completions/ringfence"
"$BIN/ringfence" --generate-completion-script zsh >"$P/usr/share/zsh/vendor-completions/_ringfence"
"$BIN/ringfence" --generate-completion-script fish >"$P/usr/share/fish/vendor_completions.d/ringfence.fish"

# copyright (DEP-5) and changelog.Debian
sed "s/@YEAR@/$(TZ=UTC git show -s --format=%cd --date=format-local:%Y HEAD)/" ci/debian/copyright \
	>"$P/usr/share/doc/ringfence/copyright"
{
	printf 'ringfence (%s) unstable; urgency=medium\n\n' "$VERSION"
	printf '  * Built from commit %s:\n' "$commit"
	git show -s --format=%s HEAD | fold -s -w 70 | sed 's/ *$//; s/^/    /'
	printf '\n -- %s  %s\n' "$MAINT" "$(git show -s --format=%cD HEAD)"
} | gzip -9n >"$P/usr/share/doc/ringfence/changelog.Debian.gz"

find "$P" -type d -exec chmod 0755 {} +
find "$P/usr/share" -type f -exec chmod 0644 {} +
chmod 0755 "$P/usr/share/ringfence/ci/coverage.sh"

# --- control -----------------------------------------------------------------
# Libraries: what the host binary links (libc, libm, libstdc++, libgcc_s);
# the guest binary is static. Tools: what `ringfence vm` runs (VMCommand.preflight):
# qemu-system-x86_64; strip (binutils); apt-get and apt-helper (apt) with
# dpkg-deb (dpkg, essential) for kernel downloads; depmod (kmod), xz and zstd
# for modules; ldd (libc-bin), sha256sum (coreutils), gzip, tar: essential.
mkdir -p "$STAGE/shl/debian"
printf 'Source: ringfence\n\nPackage: ringfence\nArchitecture: amd64\n' >"$STAGE/shl/debian/control"
shlibs=$(cd "$STAGE/shl" && dpkg-shlibdeps -O -e"$P/usr/bin/ringfence" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || die "dpkg-shlibdeps found no libraries for ringfence"
size=$(du -sk --exclude=DEBIAN "$P" | cut -f1)
cat >"$P/DEBIAN/control" <<EOF
Package: ringfence
Version: $VERSION
Architecture: amd64
Maintainer: $MAINT
Installed-Size: $size
Depends: $shlibs, apt, binutils, kmod, qemu-system-x86, xz-utils, zstd
Suggests: bc, bison, build-essential, flex, lcov, libelf-dev, libssl-dev, python3
Section: devel
Priority: optional
Description: conformance suite for io_uring cBPF filters
 ringfence runs table-driven conformance and regression cases for the
 Linux io_uring cBPF filter feature (IORING_REGISTER_BPF_FILTER) through
 real io_uring_register(2) and io_uring_enter(2) calls and reports KTAP,
 JSON, JUnit and KCIDB results.
 .
 "ringfence vm" downloads a Debian kernel (or boots one you built), boots
 it under QEMU with the suite as /init and judges the run; no Swift
 toolchain is needed. The suggested packages are for "ringfence vm
 --build", which builds a kernel tree first, and its --coverage option.
EOF
chmod 0644 "$P/DEBIAN/control"
(cd "$P" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$P/DEBIAN/md5sums"
chmod 0644 "$P/DEBIAN/md5sums"

deb=$OUT/ringfence_${VERSION}_amd64.deb
dpkg-deb --root-owner-group -Zxz -b "$P" "$deb" >&2
echo "$deb"
