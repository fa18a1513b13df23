#!/usr/bin/env bash
# run-in-vm.sh: boot a Linux >= 7.0 kernel in QEMU and run the ringfence
# suite in it, with ringfence itself as the guest's /init.
#
# Exit codes: the suite's (0 all passed, 1 a failure, 4 all skipped; 2 when
# the guest CLI reported a usage/case-file error), and 2 for set-up errors
# here (bad arguments, missing QEMU, no suitable kernel, download failures).
# A VM that panics, hangs past --timeout or dies early is a failure (1).
set -euo pipefail

PROG=run-in-vm.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<'EOF'
Usage: run-in-vm.sh [OPTIONS] [-- RINGFENCE-ARGS...]

Boot a Linux >= 7.0 kernel in QEMU with an initramfs whose /init is the
ringfence binary, run the suite in the guest, and judge the serial console.

Kernel (default: the newest Debian cloud-amd64 kernel whose config has
CONFIG_IO_URING_BPF=y, or whose config is unknown, from sid and
trixie-backports):
  --kernel-version V   a Debian cloud kernel: 7.3.4, 7.0 (newest 7.0.x),
                       7.3.4+deb13-cloud-amd64 or 7.3.4-1~bpo13+1
  --list-kernels       list the available kernels and exit
  --experimental       also look in the experimental suite (release candidates;
                       implied by --kernel-version 7.3~rc7)
  --mirror URI         Debian mirror (default: the first Debian URI in the
                       system's apt sources)
  --refresh            refresh the kernel package indexes now (default: when
                       older than a day)
  --kernel PATH        boot this kernel image (bzImage/vmlinuz) instead
  --modules DIR        with --kernel: modules installed by
                       `make modules_install INSTALL_MOD_PATH=DIR`
  --config FILE        with --kernel: its .config (to check CONFIG_IO_URING_BPF)

VM:
  --accel auto|kvm|tcg accelerator (default auto: KVM when /dev/kvm is usable
                       and the guest shows signs of life, else TCG)
  --timeout S          global timeout for the VM run in seconds (default 300);
                       QEMU is killed and the run fails when it expires
  --cpus N             guest CPUs (default: host CPUs, at most 4); the guest
                       runs that many cases at once (ringfence run --jobs)
  --memory M           guest memory, QEMU syntax (default 512M)
  --initrd-compression none|gzip   (default none: fastest to build and boot)

Suite:
  --cases DIR          case directory copied into the guest as /cases
                       (default: ./cases next to this script)
  --out DIR            where console.log, results.ktap, results.json and
                       summary.txt go (default: ./out/<kernel-release>/)
  --results FILE       also copy the JSON results file (ringfence compare) here
  --exhaustive         also run the exhaustive tier (ringfence run --exhaustive)
  --bench              run `ringfence bench` instead of the suite: the table is
                       printed, bench.svg and bench.json land in --out
  --no-build           use the existing release binary, do not run swift build
  --write-initramfs F  build the initramfs, write it to F and exit (no boot)
  -- ARGS...           arguments for the guest's ringfence
                       (default: run --announce --cases /cases)
  -h, --help           this help

Kernels are downloaded with a private apt configuration under
${XDG_CACHE_HOME:-$HOME/.cache}/ringfence (the system's apt state is not
touched). The guest kernel command line carries console=ttyS0 panic=-1
loglevel=5 (warnings and worse reach the console, boot chatter does not);
oops=panic is NOT set, so an Oops or WARN fails the case it happened in and
the suite goes on, while a panic ends the run with "Bail out!".
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 2; }
note() { echo "$PROG: $*" >&2; }

# --- arguments ---------------------------------------------------------------
KERNEL_VERSION= LIST_KERNELS=0 EXPERIMENTAL=0 MIRROR= REFRESH=0
KERNEL= MODULES_DIR= CONFIG_FILE= ACCEL=auto TIMEOUT=300 MEMORY=512M
INITRD_COMPRESSION=none CASES= OUT= NO_BUILD=0 WRITE_INITRAMFS= RESULTS= EXHAUSTIVE=0
CPUS=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
((CPUS > 4)) && CPUS=4
GUEST_ARGS=(run --announce --cases /cases)

need_value() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value (see --help)"; }
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--kernel-version) need_value "$@"; KERNEL_VERSION=$2; shift 2 ;;
	--list-kernels) LIST_KERNELS=1; shift ;;
	--experimental) EXPERIMENTAL=1; shift ;;
	--mirror) need_value "$@"; MIRROR=$2; shift 2 ;;
	--refresh) REFRESH=1; shift ;;
	--kernel) need_value "$@"; KERNEL=$2; shift 2 ;;
	--modules) need_value "$@"; MODULES_DIR=$2; shift 2 ;;
	--config) need_value "$@"; CONFIG_FILE=$2; shift 2 ;;
	--accel) need_value "$@"; ACCEL=$2; shift 2 ;;
	--timeout) need_value "$@"; TIMEOUT=$2; shift 2 ;;
	--memory) need_value "$@"; MEMORY=$2; shift 2 ;;
	--initrd-compression) need_value "$@"; INITRD_COMPRESSION=$2; shift 2 ;;
	--cases) need_value "$@"; CASES=$2; shift 2 ;;
	--out) need_value "$@"; OUT=$2; shift 2 ;;
	--results) need_value "$@"; RESULTS=$2; shift 2 ;;
	--exhaustive) EXHAUSTIVE=1; shift ;;
	--bench) GUEST_ARGS=(bench --format ktap); shift ;;
	--cpus) need_value "$@"; CPUS=$2; shift 2 ;;
	--no-build) NO_BUILD=1; shift ;;
	--write-initramfs) need_value "$@"; WRITE_INITRAMFS=$2; shift 2 ;;
	--) shift; GUEST_ARGS=("$@"); break ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
done

case $ACCEL in auto | kvm | tcg) ;; *) die "--accel must be auto, kvm or tcg, not '$ACCEL'" ;; esac
if [[ $EXHAUSTIVE == 1 ]]; then
	[[ ${GUEST_ARGS[0]:-} == run ]] || die "--exhaustive goes with the guest's 'run' command"
	GUEST_ARGS+=(--exhaustive)
fi
case $INITRD_COMPRESSION in none | gzip) ;; *) die "--initrd-compression must be none or gzip" ;; esac
[[ $TIMEOUT =~ ^[0-9]+$ && $TIMEOUT -gt 0 ]] || die "--timeout wants a positive number of seconds, not '$TIMEOUT'"
[[ $CPUS =~ ^[0-9]+$ && $CPUS -ge 1 ]] || die "--cpus wants a positive number, not '$CPUS'"
[[ $MEMORY =~ ^[0-9]+[MG]?$ ]] || die "--memory wants e.g. 1G or 768M, not '$MEMORY'"
[[ -n $KERNEL && -n $KERNEL_VERSION ]] && die "--kernel and --kernel-version exclude each other"
[[ -n $KERNEL && $LIST_KERNELS == 1 ]] && die "--list-kernels lists Debian kernels; it does not go with --kernel"
[[ -z $KERNEL && ( -n $MODULES_DIR || -n $CONFIG_FILE ) ]] && die "--modules and --config go with --kernel"
[[ -z $KERNEL || -f $KERNEL ]] || die "--kernel $KERNEL: no such file"
[[ -z $MODULES_DIR || -d $MODULES_DIR ]] || die "--modules $MODULES_DIR: no such directory"
[[ -z $CONFIG_FILE || -f $CONFIG_FILE ]] || die "--config $CONFIG_FILE: no such file"
CASES=${CASES:-$ROOT/cases}
[[ -d $CASES ]] || die "--cases $CASES: no such directory"
CASES=$(cd "$CASES" && pwd)

for tool in qemu-system-x86_64 cpio depmod modprobe; do
	command -v "$tool" >/dev/null || die "$tool not found; install: apt-get install -y --no-install-recommends qemu-system-x86 cpio kmod xz-utils zstd"
done

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ringfence
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringfence-vm.XXXXXX")
WRAP_PID=
# Kills the QEMU this script started (by the pid it wrote), then its wrapper.
kill_qemu() {
	local pid
	pid=$(cat "$WORK/qemu.pid" 2>/dev/null || true)
	[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
	[[ -n $WRAP_PID ]] && kill -9 "$WRAP_PID" 2>/dev/null || true
}
cleanup() {
	[[ -n $WRAP_PID ]] && kill_qemu
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
T_START=$(now)

# --- the ringfence binary ----------------------------------------------------
BIN=$ROOT/.build-release/release/ringfence
if [[ $NO_BUILD == 0 ]]; then
	command -v swift >/dev/null || die "swift not found (or use --no-build with an existing $BIN)"
	if ! (cd "$ROOT" && swift build -c release --static-swift-stdlib --scratch-path .build-release) >"$WORK/build.log" 2>&1; then
		cat "$WORK/build.log" >&2
		die "swift build failed"
	fi
fi
[[ -x $BIN ]] || die "no ringfence binary at $BIN (build it, or drop --no-build)"
for sub in verdict kernels list; do
	"$BIN" "$sub" --help >/dev/null 2>&1 ||
		die "$BIN has no '$sub' subcommand (main.swift must register Verdict and Kernels: see docs/run-in-vm.md)"
done
T_BUILT=$(now)

# --- Debian kernel catalog (private apt configuration) -----------------------
APT=$CACHE/apt
apt_opts() {
	printf '%s\n' -o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o "Dir::State::Lists=$APT/lists" -o "Dir::Cache::Archives=$APT/archives" \
		-o "Dir::State::status=$APT/status" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o APT::Architecture=amd64 -o Acquire::Languages=none -o APT::Sandbox::User=root \
		-o Acquire::http::Timeout=30 -o Acquire::Retries=2
}

# The mirror: --mirror, else the first Debian archive URI of the system's apt
# sources (deb822 *.sources "URIs:" lines, then one-line "deb URI suite" lists).
system_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		while read -r uri; do
			[[ $uri == *-security* || $uri == *security.* ]] && continue
			[[ $uri == http://* || $uri == https://* ]] && { echo "${uri%/}"; return 0; }
		done < <(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f")
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		while read -r uri; do
			[[ $uri == *-security* || $uri == *security.* ]] && continue
			echo "${uri%/}"; return 0
		done < <(sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $2 ~ /^https?:\/\// { print $2 }')
	done
	return 1
}

# Indexes are kept for all three suites (so --experimental does not force a
# refresh); experimental kernels are only considered with --experimental.
INDEXED_SUITES=(sid trixie-backports experimental)
SUITES=(sid trixie-backports)
# A release candidate lives only in experimental, so asking for one implies it.
[[ $KERNEL_VERSION == *[~-]rc* ]] && EXPERIMENTAL=1
[[ $EXPERIMENTAL == 1 ]] && SUITES+=(experimental)

update_catalog() {
	local mirror=$MIRROR
	if [[ -z $mirror ]]; then
		mirror=$(system_mirror) || die "no Debian mirror in the system's apt sources; pass --mirror URI"
	fi
	mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/packages"
	: >"$APT/status"
	local suite want
	want=$(for suite in "${INDEXED_SUITES[@]}"; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
	done)
	local stamp=$APT/updated
	if [[ $REFRESH == 1 || ! -f $stamp || "$want" != "$(cat "$APT/sources.list" 2>/dev/null)" ]] ||
		[[ -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
		note "updating kernel package indexes (${INDEXED_SUITES[*]})"
		echo "$want" >"$APT/sources.list"
		local opts
		mapfile -t opts < <(apt_opts)
		# apt-get update exits 0 on some fetch failures: read its log as well.
		if ! timeout 300 apt-get "${opts[@]}" -q update >"$WORK/apt-update.log" 2>&1 ||
			grep -q '^E:\|^W: Failed to fetch\|^Err:' "$WORK/apt-update.log"; then
			rm -f "$stamp"
			cat "$WORK/apt-update.log" >&2
			die "apt-get update of the private kernel index failed"
		fi
		# Keep only the cloud-amd64 kernel stanzas, uncompressed, one file per suite.
		rm -f "$APT/packages/"*.Packages
		local list
		for list in "$APT/lists/"*_binary-amd64_Packages*; do
			[[ -e $list ]] || continue
			suite=${list##*_dists_}; suite=${suite%%_*}
			/usr/lib/apt/apt-helper cat-file "$list" |
				awk -v RS= -v ORS='\n\n' '/^Package: linux-(binary|modules|base)-[^\n]*-cloud-amd64\n/' \
					>"$APT/packages/$suite.Packages"
		done
		touch "$stamp"
	fi
}

kernels() {
	local args=() suite
	for suite in "${SUITES[@]}"; do
		[[ -f $APT/packages/$suite.Packages ]] && args+=(--packages "$suite=$APT/packages/$suite.Packages")
	done
	[[ ${#args[@]} -gt 0 ]] || die "no kernel package index for ${SUITES[*]}"
	mkdir -p "$CACHE/configs"
	"$BIN" kernels "${args[@]}" --configs "$CACHE/configs" "$@"
}

# apt-get download PKG=VER into $CACHE/debs (cached); prints the .deb path.
fetch_deb() {
	local spec=$1 name=${1%%=*} ver=${1#*=}
	local debs=$CACHE/debs
	mkdir -p "$debs"
	local existing
	existing=$(find "$debs" -maxdepth 1 -name "${name}_*.deb" 2>/dev/null | while read -r f; do
		[[ $(dpkg-deb -f "$f" Version) == "$ver" ]] && echo "$f"; done | head -n1)
	if [[ -z $existing ]]; then
		note "downloading $spec"
		local opts
		mapfile -t opts < <(apt_opts)
		(cd "$debs" && timeout 600 apt-get "${opts[@]}" -q download "$spec") >"$WORK/apt-download.log" 2>&1 || {
			cat "$WORK/apt-download.log" >&2
			die "downloading $spec failed"
		}
		existing=$(find "$debs" -maxdepth 1 -name "${name}_*.deb" | while read -r f; do
			[[ $(dpkg-deb -f "$f" Version) == "$ver" ]] && echo "$f"; done | head -n1)
	fi
	[[ -n $existing ]] || die "downloaded $spec but cannot find its .deb"
	echo "$existing"
}

# Fetches a kernel's config into $CACHE/configs/<release>.config, or marks
# it .noconfig when neither linux-base nor the binary package carries one.
fetch_config() {
	local release=$1 binary=$2 base=$3 deb tmp
	tmp=$WORK/cfg.$release
	mkdir -p "$tmp"
	for spec in "$base" "$binary"; do
		[[ $spec == - ]] && continue
		deb=$(fetch_deb "$spec")
		dpkg-deb -x "$deb" "$tmp"
		local cfg
		cfg=$(find "$tmp" \( -path "*/lib/modules/$release/config" -o -name "config-$release" \) | head -n1)
		if [[ -n $cfg ]]; then cp "$cfg" "$CACHE/configs/$release.config"; return; fi
	done
	touch "$CACHE/configs/$release.noconfig"
}

# Unpacks a kernel into $CACHE/kernels/<release>/: vmlinuz, config (if
# any), modroot/lib/modules/<release>/ with modules.dep (if modules exist).
install_kernel() {
	local release=$1 binary=$2 modules=$3 base=$4
	local dir=$CACHE/kernels/$release
	[[ -f $dir/.complete ]] && return
	rm -rf "$dir"; mkdir -p "$dir/x"
	local spec deb
	for spec in "$binary" "$base" "$modules"; do
		[[ $spec == - ]] && continue
		deb=$(fetch_deb "$spec")
		dpkg-deb -x "$deb" "$dir/x"
	done
	local vmlinuz
	vmlinuz=$(find "$dir/x" \( -path "*/lib/modules/$release/vmlinuz" -o -name "vmlinuz-$release" \) | head -n1)
	[[ -n $vmlinuz ]] || die "no vmlinuz in $binary"
	mv "$vmlinuz" "$dir/vmlinuz"
	local cfg
	cfg=$(find "$dir/x" \( -path "*/lib/modules/$release/config" -o -name "config-$release" \) | head -n1)
	[[ -n $cfg ]] && cp "$cfg" "$dir/config"
	if [[ -d $dir/x/usr/lib/modules/$release/kernel ]]; then
		mkdir -p "$dir/modroot/lib/modules"
		mv "$dir/x/usr/lib/modules/$release" "$dir/modroot/lib/modules/"
		rm -f "$dir/modroot/lib/modules/$release/vmlinuz"
		depmod -b "$dir/modroot" "$release"
	fi
	rm -rf "$dir/x"
	touch "$dir/.complete"
}

# Reads the release string out of a bzImage header (as `file` does).
bzimage_release() {
	local img=$1 off
	[[ $(dd if="$img" bs=1 skip=514 count=4 status=none) == HdrS ]] || return 1
	off=$(od -An -tu2 -j526 -N2 "$img" | tr -d ' ')
	dd if="$img" bs=1 skip=$((off + 512)) count=200 status=none | tr '\0' '\n' | head -n1 | awk '{ print $1 }'
}

MODROOT= KCONFIG= CONFIG_NOTE=
if [[ -n $KERNEL ]]; then
	VMLINUZ=$(cd "$(dirname "$KERNEL")" && pwd)/$(basename "$KERNEL")
	RELEASE=$(bzimage_release "$VMLINUZ") || die "--kernel $KERNEL is not a bzImage"
	[[ -n $RELEASE ]] || die "cannot read the kernel release from $KERNEL"
	if [[ -n $MODULES_DIR ]]; then
		if [[ -d $MODULES_DIR/lib/modules/$RELEASE ]]; then MODROOT=$(cd "$MODULES_DIR" && pwd)
		else die "--modules $MODULES_DIR has no lib/modules/$RELEASE (expected INSTALL_MOD_PATH of make modules_install)"; fi
	fi
	KCONFIG=$CONFIG_FILE
else
	# One run at a time updates the index and unpacks kernels into the cache.
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock -w 900 9 || die "another run-in-vm.sh holds $CACHE/.lock"
	update_catalog
	if [[ $LIST_KERNELS == 1 ]]; then
		printf '%-28s %-12s %-18s %-7s %-5s %s\n' RELEASE UPSTREAM SUITE MODULES BASE IO_URING_BPF
		kernels | awk -F'\t' '{ printf "%-28s %-12s %-18s %-7s %-5s %s\n", $1, $2, $4, ($6 == "-" ? "no" : "yes"), ($7 == "-" ? "no" : "yes"), ($8 == "unfetched" ? "?" : $8) }'
		exit 0
	fi
	if [[ -n $KERNEL_VERSION ]]; then
		LINE=$(kernels --match "$KERNEL_VERSION" | head -n1)
		[[ -n $LINE ]] || die "no Debian cloud kernel matches '$KERNEL_VERSION' in ${SUITES[*]} (see --list-kernels --experimental)"
	else
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
			rc=0
			LINE=$(kernels --select) || rc=$?
			[[ $rc == 3 ]] && die "no kernel >= 7.0 with CONFIG_IO_URING_BPF=y (or an unknown config) found in ${SUITES[*]} (try --experimental or --kernel)"
			[[ $rc == 0 ]] || exit 2
			IFS=$'\t' read -r R _ _ _ B _ S C <<<"$LINE"
			[[ $C == unfetched ]] || break
			fetch_config "$R" "$B" "$S"
		done
	fi
	IFS=$'\t' read -r RELEASE UPSTREAM DEBVER SUITE BINPKG MODPKG BASEPKG CSTATE <<<"$LINE"
	install_kernel "$RELEASE" "$BINPKG" "$MODPKG" "$BASEPKG"
	KDIR=$CACHE/kernels/$RELEASE
	VMLINUZ=$KDIR/vmlinuz
	[[ -d $KDIR/modroot ]] && MODROOT=$KDIR/modroot
	[[ -f $KDIR/config ]] && KCONFIG=$KDIR/config
	note "kernel $RELEASE ($DEBVER from $SUITE)"
	flock -u 9
fi
CONFIG_DIGEST=
if [[ -n $KCONFIG ]]; then
	CONFIG_DIGEST=$(sha256sum "$KCONFIG" | cut -d' ' -f1)
	if grep -qx 'CONFIG_IO_URING_BPF=y' "$KCONFIG"; then CONFIG_NOTE="CONFIG_IO_URING_BPF=y"
	else CONFIG_NOTE="CONFIG_IO_URING_BPF is not y in its config"; note "warning: $RELEASE: $CONFIG_NOTE"; fi
else
	CONFIG_NOTE="config unknown"
	note "$RELEASE: no config available, CONFIG_IO_URING_BPF unknown"
fi
if [[ -z $WRITE_INITRAMFS ]]; then
	OUT=${OUT:-./out/$RELEASE}
	mkdir -p "$OUT" || die "cannot create --out $OUT"
	OUT=$(cd "$OUT" && pwd)
fi
T_KERNEL=$(now)

# --- initramfs -----------------------------------------------------------------
IR=$WORK/initramfs
mkdir -p "$IR"/{dev,proc,sys,tmp,cases,lib/modules}
# A stripped copy of the binary loads faster; refreshed when the build changes.
STRIPPED=$ROOT/.build-release/ringfence.init
if [[ ! -f $STRIPPED || $BIN -nt $STRIPPED ]]; then
	strip -o "$STRIPPED.tmp" "$BIN" 2>/dev/null || cp "$BIN" "$STRIPPED.tmp"
	mv "$STRIPPED.tmp" "$STRIPPED"
fi
cp "$STRIPPED" "$IR/init"
# Shared libraries (liburing is static; libkmod and its compression libraries
# are not) and the dynamic loader, at the paths ldd names.
while read -r lib; do
	[[ -n $lib && -e $lib ]] || continue
	cp --parents -L "$lib" "$IR"
done < <(ldd "$BIN" | awk '/=>/ && $3 ~ /^\// { print $3 } !/=>/ && $1 ~ /^\// { print $1 }')
mknod -m 600 "$IR/dev/console" c 5 1 2>/dev/null || true
cp -a "$CASES/." "$IR/cases/"

MODULE_NAMES=$("$BIN" list --modules --cases "$CASES") || die "ringfence list --modules --cases $CASES failed"
MODULE_NAMES=$(echo $MODULE_NAMES)
if [[ -n $MODULE_NAMES ]]; then
	if [[ -n $MODROOT ]]; then
		MD=$IR/lib/modules/$RELEASE
		mkdir -p "$MD"
		for f in modules.order modules.builtin modules.builtin.modinfo; do
			[[ -f $MODROOT/lib/modules/$RELEASE/$f ]] && cp "$MODROOT/lib/modules/$RELEASE/$f" "$MD/"
		done
		for m in $MODULE_NAMES; do
			if ! deps=$(modprobe -d "$MODROOT" -S "$RELEASE" --show-depends "$m" 2>&1); then
				note "module $m: not in $RELEASE ($deps); its cases will fail or skip"
				continue
			fi
			while read -r kind path _; do
				[[ $kind == insmod ]] || continue
				rel=${path#"$MODROOT/lib/modules/$RELEASE/"}
				dest=$MD/${rel%.xz}; dest=${dest%.zst}; dest=${dest%.gz}
				[[ -f $dest ]] && continue
				mkdir -p "$(dirname "$dest")"
				case $path in
				*.xz) xz -dc "$path" >"$dest" ;;
				*.zst) zstd -qdc "$path" >"$dest" ;;
				*.gz) gzip -dc "$path" >"$dest" ;;
				*) cp "$path" "$dest" ;;
				esac
			done <<<"$deps"
		done
		depmod -b "$IR" "$RELEASE"
	else
		note "no modules for kernel $RELEASE (no modules package, or no --modules): cases needing modules ($MODULE_NAMES) will be skipped"
	fi
fi

INITRD=$WORK/initrd.cpio
(cd "$IR" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$INITRD"
if [[ $INITRD_COMPRESSION == gzip ]]; then gzip -1 "$INITRD"; INITRD=$INITRD.gz; fi
T_INITRD=$(now)
if [[ -n $WRITE_INITRAMFS ]]; then
	cp "$INITRD" "$WRITE_INITRAMFS"
	note "initramfs for $RELEASE written to $WRITE_INITRAMFS"
	exit 0
fi

# --- boot ----------------------------------------------------------------------
# The guest's argument list travels percent-encoded, comma-joined, in
# ringfence.args= (see Sources/RingfenceKit/Guest/GuestCommandLine.swift).
pct() {
	local s=$1 out= c i
	local LC_ALL=C
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~/=:@+-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}
if [[ ${#GUEST_ARGS[@]} -eq 0 ]]; then
	ARGS_PARAM=ringfence.args
else
	ARGS_PARAM=ringfence.args=
	sep=
	for a in "${GUEST_ARGS[@]}"; do ARGS_PARAM+=$sep$(pct "$a"); sep=,; done
fi
APPEND="console=ttyS0 panic=-1 loglevel=5 rdinit=/init mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd i8042.nopnp $ARGS_PARAM"
[[ -n $MODULE_NAMES ]] && APPEND+=" ringfence.modules=${MODULE_NAMES// /,}"
echo "$APPEND" >"$OUT/cmdline"

LOG=$OUT/console.log
kvm_usable() { [[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]]; }

# boot ACCEL: runs QEMU; sets QEMU_RC, TIMED_OUT, and KVM_FAILED (auto only).
boot() {
	local accel=$1 cpu
	[[ $accel == kvm ]] && cpu=host || cpu=max
	: >"$LOG"
	TIMED_OUT=0 KVM_FAILED=0 QEMU_RC=0
	rm -f "$WORK/qemu.pid" "$WORK/qemu.rc"
	# QEMU runs in a subshell so that bash does not announce a crashed QEMU
	# ("Aborted") on our stderr; -pidfile names the process to kill.
	(
		qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot \
			-machine pc -accel "$accel" -cpu "$cpu" -smp "$CPUS" -m "$MEMORY" \
			-kernel "$VMLINUZ" -initrd "$INITRD" -append "$APPEND ringfence.accel=$accel${CONFIG_DIGEST:+ ringfence.config=$CONFIG_DIGEST}" \
			-serial "file:$LOG" -monitor none -display none -pidfile "$WORK/qemu.pid"
		echo $? >"$WORK/qemu.rc"
	) >"$WORK/qemu.out" 2>&1 &
	WRAP_PID=$!
	local t0 t
	t0=$(date +%s%N)
	while kill -0 "$WRAP_PID" 2>/dev/null; do
		t=$((($(date +%s%N) - t0) / 1000000))
		if [[ $accel == kvm && $ACCEL == auto ]]; then
			# Nested KVM can fail inside the guest's decompressor; QEMU then
			# stops the VM and waits. No sign of the kernel or of init on the
			# console within 10 s (the firmware banner does not count) is
			# treated the same way.
			if grep -q 'KVM internal error\|emulation failure' "$WORK/qemu.out" ||
				{ ((t > 10000)) && ! grep -aq '^\[ *[0-9][0-9.]*\]\|^# \|KTAP version' "$LOG"; }; then
				KVM_FAILED=1
				break
			fi
		fi
		if ((t > TIMEOUT * 1000)); then TIMED_OUT=1; break; fi
		sleep 0.05
	done
	if kill -0 "$WRAP_PID" 2>/dev/null; then
		kill_qemu
		QEMU_RC=137
	else
		QEMU_RC=$(cat "$WORK/qemu.rc" 2>/dev/null || echo 255)
	fi
	wait "$WRAP_PID" 2>/dev/null || true
	WRAP_PID=
}

T_BOOT=$(now)
case $ACCEL in
tcg) RAN=tcg; boot tcg ;;
kvm)
	kvm_usable || die "--accel kvm: /dev/kvm is not usable"
	RAN=kvm; boot kvm ;;
auto)
	RAN=tcg
	if kvm_usable; then
		RAN=kvm; boot kvm
		# QEMU may also abort outright (e.g. an MSR the host refuses).
		if [[ $KVM_FAILED == 1 || ( $QEMU_RC != 0 && $TIMED_OUT == 0 && ! -s $LOG ) ]]; then
			note "KVM did not work here ($(grep -m1 -i 'error.*' "$WORK/qemu.out" || echo 'no console output')); falling back to TCG"
			cp "$LOG" "$OUT/console.kvm-failed.log" 2>/dev/null || true
			T_BOOT=$(now)
			RAN=tcg; boot tcg
		fi
	else
		boot tcg
	fi
	;;
esac
T_END=$(now)
if [[ $QEMU_RC != 0 && $TIMED_OUT == 0 ]]; then
	note "qemu exited with status $QEMU_RC:"
	sed 's/^/  qemu: /' "$WORK/qemu.out" >&2
	if ! [[ -s $LOG ]]; then die "QEMU failed to start the VM"; fi
fi
cp "$WORK/qemu.out" "$OUT/qemu.log"

# --- verdict -------------------------------------------------------------------
rm -f "$OUT/results.json"
rm -f "$OUT/bench.svg" "$OUT/bench.json"
VERDICT_ARGS=("$LOG" --summary "$OUT/summary.txt" --files "$OUT")
[[ $TIMED_OUT == 1 ]] && VERDICT_ARGS+=(--timed-out)
set +e
"$BIN" verdict "${VERDICT_ARGS[@]}" >"$OUT/results.ktap"
CODE=$?
set -e
cat "$OUT/results.ktap"

summary() { sed -n "1s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$OUT/summary.txt"; }
BOOT_S=$(summary boot) SUITE_S=$(summary suite)
printf '# run-in-vm: kernel %s (%s), accel %s: boot %s s, suite %s s, VM %s s, total %s s (build %s s, kernel %s s, initramfs %s s)\n' \
	"$RELEASE" "$CONFIG_NOTE" "$RAN" "$BOOT_S" "$SUITE_S" "$(elapsed "$T_BOOT" "$T_END")" "$(elapsed "$T_START" "$T_END")" \
	"$(elapsed "$T_START" "$T_BUILT")" "$(elapsed "$T_BUILT" "$T_KERNEL")" "$(elapsed "$T_KERNEL" "$T_INITRD")"
printf '# run-in-vm: %s passed, %s failed, %s known bugs, %s skipped of %s planned; exit %s; console log %s\n' \
	"$(summary passed)" "$(summary failed)" "$(summary known)" "$(summary skipped)" "$(summary planned)" "$CODE" "$LOG"
sed -n 's/^problem: /# run-in-vm: problem: /p' "$OUT/summary.txt"
[[ $TIMED_OUT == 1 ]] && echo "# run-in-vm: the VM was killed after the ${TIMEOUT} s timeout"
[[ -f $OUT/bench.svg ]] && echo "# run-in-vm: bench plot $OUT/bench.svg, data $OUT/bench.json"
if [[ -n $RESULTS ]]; then
	if [[ -f $OUT/results.json ]]; then cp "$OUT/results.json" "$RESULTS"
	else note "no results file came out of the guest (see $LOG)"; [[ $CODE == 0 ]] && CODE=1; fi
fi
exit "$CODE"
