#!/usr/bin/env bash
# bench-history.sh measures how the cost of the control path (cold start,
# start and stop of a task, GET /butler/plan, GET /metrics, ...) grows with
# the run history: 1,000 to 1,000,000 finished runs, on SQLite and on
# PostgreSQL, against a real `butler serve`. It builds the butler binary and
# bench/historybench (whose doc comment says what each number is) with
# CGO_ENABLED=0 into a temporary directory and runs them. It writes a
# markdown section for BENCHMARKS.md to the file given as its first
# argument, by default BENCHMARKS-history.md at the repository root; the
# other arguments go to historybench (`go -C bench run ./historybench -h`),
# for example `-sizes 1k,100k -databases sqlite -reps 50`.
#
# PostgreSQL comes from BUTLER_BENCH_DATABASE_URL, by default the local
# server (postgres://postgres@127.0.0.1:5432/postgres); each setup gets a
# database of its own there, dropped afterwards. It takes about five minutes
# and needs 1.5 GiB free in the temporary directory (TMPDIR, default /tmp)
# and as much on the PostgreSQL server.
#
#	scripts/bench-history.sh [OUT.md] [historybench flags]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/BENCHMARKS-history.md"
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
	out="$1"
	shift
fi
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

command="scripts/bench-history.sh"
if [ "$#" -gt 0 ]; then
	command="$command $*"
fi

cd "$root"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/butler-bench-history.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "bench-history.sh: building butler and historybench (CGO_ENABLED=0)" >&2
CGO_ENABLED=0 go build -o "$tmp/butler" ./cmd/butler
CGO_ENABLED=0 go -C bench build -o "$tmp/historybench" ./historybench

"$tmp/historybench" -butler "$tmp/butler" -command "$command" -out "$out" "$@"
echo "bench-history.sh: wrote the section to $out" >&2
