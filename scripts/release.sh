#!/usr/bin/env bash
# Build static butler binaries for Linux (amd64 and arm64) into dist/, with
# their SHA-256 checksums in dist/SHA256SUMS.
#
#   scripts/release.sh             # version from `git describe`
#   VERSION=v1.2.0 scripts/release.sh
#   OUT=/tmp/release scripts/release.sh   # another output directory
#   scripts/release.sh --print-version    # the version it would use, and nothing else
#
# Each binary reports its version, commit and build date: butler version.
#
# The version is always a semantic version, which CheckForUpdates compares
# with its feed's: a tag (v1.2.0); a commit after one, as build metadata
# (v1.2.0+3.gabc1234, equal to v1.2.0 for the comparison, not older);
# without any tag, 0.1.0-dev+gabc1234; a tree with uncommitted changes adds
# .dirty to the metadata.
set -euo pipefail
cd "$(dirname "$0")/.."

# semverOf turns `git describe --tags --long --dirty` output into a
# semantic version.
semverOf() {
  local d=$1 dirty=""
  case $d in *-dirty) dirty=.dirty; d=${d%-dirty} ;; esac
  if [[ $d =~ ^(.+)-([0-9]+)-g([0-9a-f]+)$ ]]; then
    local tag=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]} sha=${BASH_REMATCH[3]}
    if [ "$n" = 0 ]; then
      [ -z "$dirty" ] && echo "$tag" || echo "$tag+dirty"
    else
      echo "$tag+$n.g$sha$dirty"
    fi
    return
  fi
  echo "0.1.0-dev+g$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
}

version="${VERSION:-}"
if [ -z "$version" ]; then
  if d=$(git describe --tags --long --dirty 2>/dev/null); then
    version=$(semverOf "$d")
  else
    dirty=""
    if ! git diff --quiet HEAD 2>/dev/null; then dirty=.dirty; fi
    version="0.1.0-dev+g$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
  fi
fi
if [ "${1:-}" = --print-version ]; then
  echo "$version"
  exit 0
fi

out="${OUT:-dist}"
commit="$(git rev-parse HEAD 2>/dev/null || true)"
date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w -X main.version=${version} -X main.buildDate=${date}"
if [ -n "$commit" ]; then
  ldflags="$ldflags -X main.buildCommit=${commit}"
fi

mkdir -p "$out"
rm -f "$out"/butler-* "$out"/SHA256SUMS   # an earlier release's, never anything else
for arch in amd64 arm64; do
  bin="$out/butler-${version}-linux-${arch}"
  echo "== $bin"
  # -buildvcs=true: the binary's build information names the commit (and
  # whether the tree had uncommitted changes) even where GOFLAGS turns it off.
  CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
    go build -trimpath -buildvcs=true -ldflags "$ldflags" -o "$bin" ./cmd/butler
done
(cd "$out" && sha256sum butler-* > SHA256SUMS)
cat "$out/SHA256SUMS"
echo "check with: (cd $out && sha256sum -c SHA256SUMS)"
