#!/usr/bin/env bash
# bench-media.sh measures the media library with bench/mediabench (whose
# doc comment says what each number is): the scan of 100,000 files against
# find, cold and warm, and the scan's peak memory; DeepMediaAnalysis against
# find | xargs ffprobe at 2 and 4 at a time; and, through a real server,
# how soon a run pauses once someone watches and what a kill -9 makes it
# redo. It writes a markdown fragment, a "## " section, to the file given as
# its argument, by default BENCHMARKS-media.md at the repository root.
#
# It needs ffmpeg (ffprobe with it) and installs it through apt-get when
# missing; it drops the page cache between the cold runs when run as root.
# It takes about eight minutes and needs 2 GiB free in the temporary
# directory (TMPDIR, default /tmp).
#
#	scripts/bench-media.sh [OUT.md]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/BENCHMARKS-media.md}"
case "$out" in
/*) ;;
*) out="$PWD/$out" ;;
esac

missing=()
{ command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; } || missing+=(ffmpeg)
command -v xargs >/dev/null 2>&1 || missing+=(findutils)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench-media.sh: installing ${missing[*]}" >&2
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "bench-media.sh: no apt-get: install ${missing[*]} yourself" >&2
		exit 1
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v ffprobe >/dev/null 2>&1 || {
	echo "bench-media.sh: ffprobe is still missing" >&2
	exit 1
}
if [ "$(id -u)" -ne 0 ]; then
	echo "bench-media.sh: not root: the page cache cannot be dropped, the cold runs will be warm (the fragment says so)" >&2
fi

cd "$root"
go -C bench run ./mediabench -out "$out"
echo "bench-media.sh: wrote $out" >&2
