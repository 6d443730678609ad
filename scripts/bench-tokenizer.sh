#!/usr/bin/env bash
# The tokenizer benchmarks of the README, side by side with the tools people use today:
#   1. BPE training: vocab 8000 on tinyshakespeare and 32000 on the ~26 MB corpus, against
#      rustbpe and Hugging Face tokenizers (wall time, peak RSS; scripts/bench/train.sh);
#   2. encoding with o200k_base and cl100k_base on the ~26 MB corpus, 1 and 2 threads, against
#      tiktoken-rs and Python tiktoken (MB/s; scripts/bench/encode.sh).
# The Python tools are installed from PyPI into target/bench-venv. Environment: RUNS, THREADS,
# TINY, BENCH_CORPUS (see the two scripts); the corpus is built by scripts/bench/make-corpus.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/bench/train.sh"
"$here/bench/encode.sh"
