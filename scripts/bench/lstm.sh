#!/usr/bin/env bash
# Side-by-side training throughput: our fast LSTM path (model/examples/bench_train.rs)
# against PyTorch's nn.LSTM on CPU (scripts/bench/pytorch_lstm.py), same configs,
# same optimizer (Adam lr 2e-3, clip 1.0), same thread count.
#
# Usage: scripts/bench/lstm.sh [--threads N] [--steps N] [--install-only]
#
# PyTorch is installed from PyPI into target/bench-venv once (reused afterwards;
# a large download). Peak RSS comes from /usr/bin/time -v.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/target/bench-venv"
THREADS=2
STEPS=20
INSTALL_ONLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  echo "installing torch into $VENV (once)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch numpy
fi
[[ $INSTALL_ONLY == 1 ]] && exit 0

if [[ ! -x /usr/bin/time ]]; then
  echo "/usr/bin/time is missing (apt-get install time)" >&2
  exit 1
fi
