#!/usr/bin/env bash
# bench-frames.sh measures what Butler's preview pictures (one every 10 s,
# then a BIF file) cost on an hour of 1080p H.264 video, against the plain
# ffmpeg commands that decode every frame or the keyframes alone;
# bench/framebench's doc comment says what each number is. It writes a
# markdown section to the file given as its argument, by default
# BENCHMARKS-frames.md at the repository root.
#
# It needs ffmpeg and ffprobe (on Debian: apt-get install ffmpeg) and about
# 2.5 GiB free in the temporary directory (TMPDIR, default /tmp), where it
# keeps the video between runs (butler-framebench/). Making the video the
# first time takes about 6 minutes on two cores; a run about 10 minutes.
#
#	scripts/bench-frames.sh [OUT.md]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/BENCHMARKS-frames.md}"
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

for p in ffmpeg ffprobe; do
	if ! command -v "$p" >/dev/null 2>&1; then
		echo "bench-frames.sh: $p not found: install FFmpeg (on Debian: apt-get install ffmpeg)" >&2
		exit 1
	fi
done

cd "$root"
go -C bench run ./framebench -out "$out"
echo "bench-frames.sh: wrote $out" >&2
