#!/usr/bin/env bash
# bench.sh measures the Butler against its performance targets and writes
# BENCHMARKS.md at the repository root. It builds the butler binary and the
# measuring program (internal/benchtool, whose doc comment describes each
# measurement) with CGO_ENABLED=0 into a temporary directory and runs them.
# Extra arguments are passed to the measuring program (see
# `go run ./internal/benchtool -h`). It takes about two and a half minutes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/butler-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "bench.sh: building butler and benchtool (CGO_ENABLED=0)" >&2
CGO_ENABLED=0 go build -o "$tmp/butler" ./cmd/butler
CGO_ENABLED=0 go build -o "$tmp/benchtool" ./internal/benchtool

command="scripts/bench.sh"
if [ "$#" -gt 0 ]; then
	command="$command $*"
fi

# benchtool bounds itself (-timeout, 170 s by default); timeout(1) is a
# backstop that still lets it stop its child processes.
timeout --foreground --kill-after=15 200 "$tmp/benchtool" \
	-butler "$tmp/butler" -command "$command" -out "$tmp/BENCHMARKS.md" "$@"

mv "$tmp/BENCHMARKS.md" "$root/BENCHMARKS.md"
echo "bench.sh: wrote $root/BENCHMARKS.md" >&2
