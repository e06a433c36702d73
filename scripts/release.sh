#!/usr/bin/env bash
# Build static butler binaries for Linux (amd64 and arm64) into dist/, with
# their SHA-256 checksums in dist/SHA256SUMS.
#
#   scripts/release.sh             # version from `git describe`
#   VERSION=v1.2.0 scripts/release.sh
#   OUT=/tmp/release scripts/release.sh   # another output directory
#
# Each binary reports its version, commit and build date: butler version.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${OUT:-dist}"
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
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
