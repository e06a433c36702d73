#!/usr/bin/env bash
# bench-check.sh measures what the start-up check of a SQLite database
# (its header and PRAGMA quick_check, run by butler serve before the
# migrations) costs on a 1 GiB database, against the sqlite3 shell's
# `PRAGMA quick_check`, with a cold and a warm page cache, and how much it
# adds to the start of `butler serve`; bench/checkbench's doc comment
# says what each number is. It writes a markdown section to the file given
# as its argument, by default BENCHMARKS-check.md at the repository root.
#
# It needs the sqlite3 shell and installs it through apt-get when missing;
# it drops the page cache between runs when run as root. It takes about two
# minutes and needs 1.2 GiB free in the temporary directory (TMPDIR,
# default /tmp).
#
#	scripts/bench-check.sh [OUT.md]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/BENCHMARKS-check.md}"
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

if ! command -v sqlite3 >/dev/null 2>&1; then
	echo "bench-check.sh: installing sqlite3" >&2
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "bench-check.sh: no apt-get: install sqlite3 yourself" >&2
		exit 1
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq sqlite3 >/dev/null
fi

cd "$root"
go -C bench run ./checkbench -out "$out"
echo "bench-check.sh: wrote $out" >&2
