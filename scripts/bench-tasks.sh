#!/usr/bin/env bash
# bench-tasks.sh measures the built-in task actions (BackupDatabase,
# OptimizeDatabase, CleanOldCacheFiles) against the sqlite3 shell, cp and
# find, and `butler tasks` and the Go SDK against a real server, with
# bench/taskbench (whose doc comment says what each number is). It writes
# a markdown fragment, "## " sections without a title, to the file given as
# its argument, by default BENCHMARKS-tasks.md at the repository root.
#
# It needs the sqlite3 shell and installs it (with GNU time, which gives each
# command's own peak memory) through apt-get when missing; it drops the page
# cache between runs when run as root. It takes about five minutes and needs
# 6 GiB free in the temporary directory (TMPDIR, default /tmp).
#
#	scripts/bench-tasks.sh [OUT.md]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/BENCHMARKS-tasks.md}"
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

missing=()
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench-tasks.sh: installing ${missing[*]}" >&2
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "bench-tasks.sh: no apt-get: install ${missing[*]} yourself" >&2
		exit 1
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v sqlite3 >/dev/null 2>&1 || {
	echo "bench-tasks.sh: sqlite3 is still missing" >&2
	exit 1
}

cd "$root"
go -C bench run ./taskbench -out "$out"
echo "bench-tasks.sh: wrote $out" >&2
