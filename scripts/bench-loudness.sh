#!/usr/bin/env bash
# bench-loudness.sh measures the loudness analysis with bench/loudbench
# (whose doc comment says what each number is): Butler's one ffmpeg run a
# file against ffmpeg's ebur128 run by hand for each audio stream, over 20
# music files of 3 minutes and 5 videos of 10 minutes with two audio
# streams. It writes a markdown fragment, a "## " section, to the file
# given as its first argument, by default BENCHMARKS-loudness.md at the
# repository root; further arguments go to loudbench (-rounds N, -dir DIR).
#
# It needs ffmpeg (ffprobe with it) and installs it through apt-get when
# missing. The generated files (about 0.5 GiB) are kept in
# TMPDIR/loudbench (default /tmp/loudbench) and reused by the next run;
# generating them takes a few minutes the first time, and the timed runs
# about ten minutes on two cores.
#
#	scripts/bench-loudness.sh [OUT.md] [-rounds N] [-dir DIR]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/BENCHMARKS-loudness.md}"
shift || true
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

if ! { command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; }; then
	echo "bench-loudness.sh: installing ffmpeg" >&2
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "bench-loudness.sh: no apt-get: install ffmpeg yourself" >&2
		exit 1
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq ffmpeg >/dev/null
fi

cd "$root"
go -C bench run ./loudbench -out "$out" "$@"
echo "bench-loudness.sh: wrote $out" >&2
