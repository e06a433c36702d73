#!/usr/bin/env bash
# bench.sh measures the Butler against its performance targets and writes
# BENCHMARKS.md at the repository root. It builds the butler binary and the
# measuring program (bench/benchtool, whose doc comment describes each
# measurement) with CGO_ENABLED=0 into a temporary directory and runs them.
# Extra arguments are passed to the measuring program (see
# `go -C bench run ./benchtool -h`). It then appends the sections of
# bench/fanoutbench (notification fan-out), bench/scalebench (cluster
# scale-out, cross-node latency, failover; needs PostgreSQL, from
# BUTLER_BENCH_DATABASE_URL or the local server) and, when present,
# bench/clibench (`butler tasks` wall time, SDK against raw net/http)
# and, when present, bench/taskbench (task actions against the sqlite3
# CLI, cp and find) and bench/historybench (the control path against
# 1,000 to 1,000,000 runs of history, SQLite and PostgreSQL), then
# bench/stopbench (starts and stops while stubborn stops wait), the
# StartAll and ShortRuns benchmarks and bench/checkbench (the start-up
# check of a 1 GiB database). It takes about twenty-five minutes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/butler-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "bench.sh: building butler and benchtool (CGO_ENABLED=0)" >&2
CGO_ENABLED=0 go build -o "$tmp/butler" ./cmd/butler
CGO_ENABLED=0 go -C bench build -o "$tmp/benchtool" ./benchtool

command="scripts/bench.sh"
if [ "$#" -gt 0 ]; then
	command="$command $*"
fi

# benchtool bounds itself (-timeout, 170 s by default); timeout(1) is a
# backstop that still lets it stop its child processes.
timeout --foreground --kill-after=15 200 "$tmp/benchtool" \
	-butler "$tmp/butler" -command "$command" -out "$tmp/BENCHMARKS.md" "$@"

echo "bench.sh: notification fan-out" >&2
go -C bench run ./fanoutbench -out "$tmp/fanout.md"
cat "$tmp/fanout.md" >> "$tmp/BENCHMARKS.md"

echo "bench.sh: cluster scale-out, cross-node latency and failover" >&2
if go -C bench run ./scalebench -butler "$tmp/butler" -out "$tmp/scale.md"; then
	printf '\n' >> "$tmp/BENCHMARKS.md"
	cat "$tmp/scale.md" >> "$tmp/BENCHMARKS.md"
else
	printf '\n## Cluster\n\nNot measured: PostgreSQL was not reachable (BUTLER_BENCH_DATABASE_URL).\n' >> "$tmp/BENCHMARKS.md"
fi

echo "bench.sh: starts and stops while other stops wait" >&2
go -C bench run ./stopbench -butler "$tmp/butler" -out "$tmp/stops.md"
printf '\n' >> "$tmp/BENCHMARKS.md"
cat "$tmp/stops.md" >> "$tmp/BENCHMARKS.md"

echo "bench.sh: command line and SDK" >&2
go -C bench run ./clibench -butler "$tmp/butler" -out "$tmp/cli.md"
printf '\n' >> "$tmp/BENCHMARKS.md"
cat "$tmp/cli.md" >> "$tmp/BENCHMARKS.md"

if [ -d bench/taskbench ]; then
	echo "bench.sh: task actions, CLI and SDK" >&2
	command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3; }
	go -C bench run ./taskbench -out "$tmp/tasks.md"
	printf '\n' >> "$tmp/BENCHMARKS.md"
	# The fragment's headings go one level down, under its own "## " title.
	sed -E 's/^(#{2,}) /#\1 /; 1s/^### /## /' "$tmp/tasks.md" >> "$tmp/BENCHMARKS.md"
fi

if [ -d bench/historybench ]; then
	echo "bench.sh: control path against the run history" >&2
	if go -C bench run ./historybench -butler "$tmp/butler" -command "scripts/bench.sh" -out "$tmp/history.md"; then
		printf '\n' >> "$tmp/BENCHMARKS.md"
		cat "$tmp/history.md" >> "$tmp/BENCHMARKS.md"
	else
		printf '\n## Control path against the run history (historybench)\n\nNot measured: historybench failed (PostgreSQL from BUTLER_BENCH_DATABASE_URL or the local server is needed).\n' >> "$tmp/BENCHMARKS.md"
	fi
	echo "bench.sh: pruning a million expired runs" >&2
	if go -C bench run ./historybench prune -butler "$tmp/butler" -command "scripts/bench.sh" -out "$tmp/prune.md"; then
		printf '\n' >> "$tmp/BENCHMARKS.md"
		cat "$tmp/prune.md" >> "$tmp/BENCHMARKS.md"
	else
		printf '\n## Pruning a million expired runs (historybench prune)\n\nNot measured: historybench prune failed.\n' >> "$tmp/BENCHMARKS.md"
	fi
fi

echo "bench.sh: start-all of many tasks" >&2
{
	printf '\n## Start-all of many tasks\n\n'
	printf 'Command: `go test -run %s -bench StartAll -benchtime 10x .`: `Manager.StartAll` (what `POST /butler` does) on a SQLite file, and on PostgreSQL when BUTLER_TEST_DATABASE_URL is set, with River, 100 and 1,000 tasks whose runs all get queued, in one transaction (butler), beside River'"'"'s insert of the same jobs alone in one transaction (river: the reference); stopall: `Manager.StopAll` (what `DELETE /butler` does) of the runs a start-all made. Target: start-all of 1,000 tasks in < 50 ms.\n\n```\n' "'^\$'"
	go test -run '^$' -bench StartAll -benchtime 10x . | grep -E '^Benchmark'
	printf '```\n'
} >> "$tmp/BENCHMARKS.md"

echo "bench.sh: short runs against the fork/exec floor" >&2
{
	printf '\n## Short runs against the fork/exec floor\n\n'
	printf 'Command: `go test -run %s -bench ShortRuns -benchtime 3s .` (BenchmarkShortRuns; its doc comment says what each line is). floor: a Go loop running `/bin/true` as exec tasks do (pipes, a process group of its own); butler: runs of exec tasks running `/bin/true`, started with `Manager.StartTask`, worked through River, recorded in a SQLite file, each waited for until its ended event; c at a time. Targets: butler/c=1 at least 0.5x floor/c=1; butler/c=4 at least 2.5x butler/c=1.\n\n```\n' "'^\$'"
	go test -run '^$' -bench ShortRuns -benchtime 3s . | grep -E '^Benchmark' | tee "$tmp/short.txt"
	printf '```\n\n'
	awk '{ name = $1; sub(/-[0-9]+$/, "", name); for (i = 1; i <= NF; i++) if ($i == "runs/s") r[name] = $(i-1) }
		END {
			f1 = r["BenchmarkShortRuns/floor/c=1"]; b1 = r["BenchmarkShortRuns/butler/c=1"]
			f4 = r["BenchmarkShortRuns/floor/c=4"]; b4 = r["BenchmarkShortRuns/butler/c=4"]
			if (f1 && b1 && b4) printf "butler/c=1 is %.2fx floor/c=1 (target 0.5x); butler/c=4 is %.2fx butler/c=1 (target 2.5x; the floor itself scales %.2fx on this machine).\n", b1 / f1, b4 / b1, f4 / f1
		}' "$tmp/short.txt"
} >> "$tmp/BENCHMARKS.md"

if [ -d bench/checkbench ]; then
	echo "bench.sh: the start-up check of a 1 GiB database" >&2
	scripts/bench-check.sh "$tmp/check.md"
	printf '\n' >> "$tmp/BENCHMARKS.md"
	cat "$tmp/check.md" >> "$tmp/BENCHMARKS.md"
fi

mv "$tmp/BENCHMARKS.md" "$root/BENCHMARKS.md"
echo "bench.sh: wrote $root/BENCHMARKS.md" >&2
