#!/usr/bin/env bash
# Benchmarks `tok train` on long repetitive pieces (issue 11: the trainer was
# quadratic on them) against rustbpe, side by side with hyperfine, and prints
# a markdown table of medians and the ratio ours / rustbpe.
#
#   scripts/bench/repetitive.sh [WORKDIR]
#   ROUNDS=3 RUNS=3 scripts/bench/repetitive.sh /tmp/rep
#
# WORKDIR (argument, or $REP_DIR, default target/bench-repetitive) receives
# the generated inputs and the outputs. Environment:
#   ROUNDS   hyperfine invocations per case, alternating which tool goes
#            first, so drift in machine speed hits both (default 3)
#   RUNS     runs per tool per round (default 3); the median is over all
#   VOCAB    vocabulary size (default 300)
#   THREADS  threads for both tools (default 2)
#   CASES    which inputs (default "ab20k ab80k ab1m a200k acgt2m")
#   TOK      the tok binary (default target/release/tok, built when missing)
#
# Inputs: ab20k = 'ab' * 20,000 on one line, ab80k = 'ab' * 80,000,
# ab1m = 'ab' * 1,000,000, a200k = 'a' * 200,000, acgt2m = 2 MB of random
# ACGT (seeded). Ours is the whole `tok train` command (count, learn, build
# the encoder, write the file); rustbpe is scripts/bench/train_ref.py
# (Python start and import included), both with cl100k's split.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [[ $# -gt 1 || "${1:-}" == -* ]]; then
  echo "usage: scripts/bench/repetitive.sh [WORKDIR] (settings go in the environment, see the header)" >&2
  exit 2
fi
work="${1:-${REP_DIR:-$root/target/bench-repetitive}}"
rounds="${ROUNDS:-3}"
runs="${RUNS:-3}"
vocab="${VOCAB:-300}"
threads="${THREADS:-2}"
cases="${CASES:-ab20k ab80k ab1m a200k acgt2m}"
tok="${TOK:-$root/target/release/tok}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
if [ ! -x "$tok" ]; then
  echo "building tok (release)" >&2
  (cd "$root" && cargo build -q --release -p cli)
fi
venv="$root/target/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import rustbpe' 2>/dev/null; then
  echo "installing rustbpe into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q rustbpe
fi

python3 - "$work" <<'PY'
import os, random, sys
d = sys.argv[1]
inputs = {
    "ab20k": lambda: "ab" * 20_000,
    "ab80k": lambda: "ab" * 80_000,
    "ab1m": lambda: "ab" * 1_000_000,
    "a200k": lambda: "a" * 200_000,
    "acgt2m": lambda: "".join(random.Random(1).choice("ACGT") for _ in range(2_000_000)),
}
for name, make in inputs.items():
    path = os.path.join(d, name + ".txt")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(make())
PY

export RAYON_NUM_THREADS="$threads"
echo "## tok train vs rustbpe on repetitive pieces, vocab $vocab, $threads threads"
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "ISA flags: $(grep -m1 -o -w -E 'avx512f|avx2|fma' /proc/cpuinfo | sort -u | xargs)"
echo
echo "| input | tok train (s, median) | rustbpe (s, median) | tok / rustbpe |"
echo "|---|---|---|---|"
for c in $cases; do
  in="$work/$c.txt"
  ours="$tok train $in --vocab $vocab -o $work/$c.tok.json -q --threads $threads"
  ref="$venv/bin/python $root/scripts/bench/train_ref.py rustbpe --vocab $vocab --out $work/$c.rustbpe.hex $in"
  jsons=()
  for r in $(seq 1 "$rounds"); do
    j="$work/$c.round$r.json"
    if [ $((r % 2)) -eq 1 ]; then
      hyperfine -N --style none --runs "$runs" --export-json "$j" -n tok "$ours" -n rustbpe "$ref" >/dev/null
    else
      hyperfine -N --style none --runs "$runs" --export-json "$j" -n rustbpe "$ref" -n tok "$ours" >/dev/null
    fi
    jsons+=("$j")
  done
  python3 - "$c" "${jsons[@]}" <<'PY'
import json, statistics, sys
name, files = sys.argv[1], sys.argv[2:]
times = {"tok": [], "rustbpe": []}
for f in files:
    for r in json.load(open(f))["results"]:
        times[r["command"]] += r["times"]
t, b = statistics.median(times["tok"]), statistics.median(times["rustbpe"])
print(f"| {name} | {t:.3f} | {b:.3f} | {t / b:.2f} |")
PY
done
