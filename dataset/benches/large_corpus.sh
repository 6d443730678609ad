#!/usr/bin/env bash
# Memory stays flat in the corpus size: generates a corpus of GB gigabytes (default 4) from
# tinyshakespeare (one file of GB/2 GB, the rest as 16 MB files, so both the chunking of one huge
# file and many-file windows are exercised), encodes it with `tok encode`, and reports wall time,
# MB/s and peak RSS from GNU time -v, then checks the manifest's byte count.
#
# Usage: dataset/benches/large_corpus.sh TOKENIZER [GB]
#   e.g. dataset/benches/large_corpus.sh bpe8k.json 4
# Needs /usr/bin/time and GB x 2 of free disk (the corpus, then the shards) under $TMPDIR.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 TOKENIZER [GB]" >&2; exit 2; }
tokenizer=$1
gb=${2:-4}
root=$(cd "$(dirname "$0")/../.." && pwd)
cargo build --release --quiet -p cli --bin tok --manifest-path "$root/Cargo.toml"
tok="${CARGO_TARGET_DIR:-$root/target}/release/tok"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"

# repeat FILE MB: tinyshakespeare appended to FILE until it holds MB megabytes.
repeat() {
  local f=$1 target=$(( $2 * 1000000 ))
  : > "$f"
  while [ "$(stat -c %s "$f")" -lt "$target" ]; do cat "$root/tests/data/tinyshakespeare.txt" >> "$f"; done
}
repeat "$work/corpus/big.txt" $(( gb * 500 ))
repeat "$work/one16.txt" 16
n=$(( gb * 500 / 16 ))
for i in $(seq -w 1 "$n"); do cp "$work/one16.txt" "$work/corpus/part$i.txt"; done
rm "$work/one16.txt"
bytes=$(find "$work/corpus" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
echo "corpus: $bytes bytes in $(( n + 1 )) files" >&2

/usr/bin/time -v "$tok" encode "$work/corpus" --tokenizer "$tokenizer" --out "$work/shards" --quiet \
  2> "$work/time.txt" >&2
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
python3 - "$work/shards/manifest.json" "$bytes" "$wall" "$rss" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
total = int(sys.argv[2])
encoded = m["splits"]["train"]["bytes"] + m["splits"]["val"]["bytes"]
assert encoded == total, f"manifest counts {encoded} bytes, the corpus has {total}"
parts = [float(p) for p in sys.argv[3].split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
tokens = m["splits"]["train"]["tokens"] + m["splits"]["val"]["tokens"]
print(f"{total / 1e9:.2f} GB, {tokens:,} tokens, {secs:.1f} s, {total / 1e6 / secs:.0f} MB/s, "
      f"peak RSS {int(sys.argv[4]) / 1024:.0f} MiB")
PY
