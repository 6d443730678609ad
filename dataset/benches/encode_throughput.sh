#!/usr/bin/env bash
# Encode throughput of `tok encode` in MB/s with 1 and 2 threads, side by
# side in one hyperfine run (the machine is shared and drifts: compare within
# a run, quote medians).
#
# Usage: dataset/benches/encode_throughput.sh CORPUS TOKENIZER...
#   e.g. dataset/benches/encode_throughput.sh /work/bench-corpus char.json bpe8k.json o200k_base
# Needs hyperfine and python3. Builds the release `tok` first.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 CORPUS TOKENIZER..." >&2; exit 2; }
corpus=$1; shift
root=$(cd "$(dirname "$0")/../.." && pwd)
cargo build --release --quiet -p cli --bin tok --manifest-path "$root/Cargo.toml"
tok="${CARGO_TARGET_DIR:-$root/target}/release/tok"
# The bytes tok encodes: regular files, hidden entries skipped (as the corpus walker does).
bytes=$(find "$corpus" -name '.*' -prune -o -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=()
for t in "$@"; do
  for threads in 1 2; do
    name="$(basename "$t" .json) ${threads}t"
    args+=(-n "$name" "$tok encode $corpus --tokenizer $t --out $out/shards --threads $threads --quiet")
  done
done
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-json "$out/h.json" "${args[@]}" >&2
python3 - "$out/h.json" "$bytes" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
mb = int(sys.argv[2]) / 1e6
print(f"corpus: {mb:.1f} MB")
print(f"{'tokenizer threads':<24} {'median s':>9} {'MB/s':>8} {'user s':>8} {'sys s':>7}")
for r in res:
    print(f"{r['command']:<24} {r['median']:>9.3f} {mb / r['median']:>8.1f} {r['user']:>8.3f} {r['system']:>7.3f}")
PY
