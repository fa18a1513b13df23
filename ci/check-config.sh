#!/usr/bin/env bash
# check-config.sh CONFIG FRAGMENT...: exits 1 naming every option a fragment
# sets that CONFIG (a kernel's final .config) does not carry with that value.
# merge_config.sh and olddefconfig only warn when Kconfig drops an option
# (unmet dependency, option unknown to this tree); this makes it an error.
# "# CONFIG_X is not set" in a fragment is met by the same line or by absence.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 CONFIG FRAGMENT..." >&2; exit 2; }
config=$1; shift
[[ -r $config ]] || { echo "$0: cannot read $config" >&2; exit 2; }
bad=0
for fragment in "$@"; do
	[[ -r $fragment ]] || { echo "$0: cannot read $fragment" >&2; exit 2; }
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			opt=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			opt=${BASH_REMATCH[1]} want=n
		else
			continue
		fi
		got=$(awk -v o="$opt" -F= '$1 == o { v = substr($0, length(o) + 2) } $0 == "# " o " is not set" { v = "n" } END { print v }' "$config")
		if [[ $got == "$want" || ( $want == n && -z $got ) ]]; then continue; fi
		echo "$fragment: $opt=$want, but $config has ${got:-no $opt (unknown option or unmet dependency)}"
		bad=1
	done <"$fragment"
done
exit $bad
