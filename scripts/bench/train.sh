#!/usr/bin/env bash
# Benchmarks BPE training: ours against rustbpe and Hugging Face tokenizers,
# side by side, same thread count, and prints a markdown table (median wall
# time, peak RSS, ratio to ours) plus our time split and merge equality.
#
#   scripts/bench/train.sh            # vocab 8000 on tinyshakespeare, 32000 on the ~26 MB corpus
#   RUNS=3 THREADS=2 scripts/bench/train.sh
#
# Environment:
#   RUNS           runs per tool and case (median reported; default 5)
#   THREADS        threads for every tool (default 2)
#   TINY           tinyshakespeare.txt (default tests/data/tinyshakespeare.txt)
#   BENCH_CORPUS   the benchmark corpus directory, built by
#                  scripts/bench/make-corpus.sh when missing
#                  (default ~/.cache/bench-corpus)
#   CASES          override the cases: "name:vocab:path ..." (space separated)
#
# PyPI `tokenizers` and `rustbpe` are installed into target/bench-venv (reused
# when present). Ours is tokenizer-bench/examples/bench_bpe_train.rs, built in release.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

runs="${RUNS:-5}"
threads="${THREADS:-2}"
tiny="${TINY:-$root/tests/data/tinyshakespeare.txt}"
corpus="${BENCH_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/bench-corpus}"

venv="$root/target/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import tokenizers, rustbpe' 2>/dev/null; then
  echo "installing tokenizers and rustbpe into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q tokenizers rustbpe
fi

if [ -z "${CASES:-}" ]; then
  [ -f "$tiny" ] || { echo "missing $tiny (set TINY)" >&2; exit 1; }
  if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
    "$root/scripts/bench/make-corpus.sh" "$corpus" >&2
  fi
  CASES="tinyshakespeare:8000:$tiny corpus26mb:32000:$corpus"
fi

echo "building bench_bpe_train (release)" >&2
cargo build -q --release -p tokenizer-bench --example bench_bpe_train

export RAYON_NUM_THREADS="$threads"      # ours and rustbpe
export RAYON_RS_NUM_THREADS="$threads"   # HF tokenizers
export TOKENIZERS_PARALLELISM=true

echo "## BPE training, $threads threads, median of $runs runs ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo
# shellcheck disable=SC2086
"$venv/bin/python" "$root/scripts/bench/train_compare.py" --runs "$runs" --outdir "$root/target/bench-train" $CASES
echo
echo "versions: $("$venv/bin/python" -c 'import importlib.metadata as m; print("tokenizers", m.version("tokenizers"), "rustbpe", m.version("rustbpe"))')"
