#!/usr/bin/env bash
# BPE training past memory (issue 13): generates corpora of 1, 4 and 16 GiB
# that keep producing new distinct pieces as real text does (Heaps' law; see
# tokenizer-bench/examples/heaps_corpus.rs: words of the ~26 MB benchmark
# corpus mutated, a little more each copy, not the text repeated), then
# measures wall time and peak RSS (GNU time -v) of
#   tok train CORPUS --vocab 32000 --threads 2 --max-memory 2G
# beside the same run without a limit (where it fits), a run with a limit
# small enough to force spills, and optionally Hugging Face tokenizers and
# rustbpe. Runs with and without a limit must learn identical vocabularies
# (checked with cmp). Prints a markdown table and writes it to DIR/results.md.
#
#   scripts/bench/scale.sh DIR
#
# DIR receives the corpora (deleted at the end unless KEEP=1), the
# vocabularies and logs/. Environment:
#   BENCH_CORPUS  the source corpus (default ~/.cache/bench-corpus; built
#                 with scripts/bench/make-corpus.sh when missing)
#   SIZES         corpus sizes in GiB (default "1 4 16")
#   THREADS       threads for every tool (default 2)
#   VOCAB         vocabulary size (default 32000)
#   MAX_MEMORY    --max-memory of the bounded runs (default 2G)
#   MIN_FREQUENCY --min-frequency of the bounded runs (default none: exact;
#                 pieces seen fewer times are dropped, which changes the
#                 result, so the unlimited run is then not compared)
#   IN_MEMORY     sizes also run without a limit (default "1 4")
#   SPILL         a second, smaller limit that forces spills (default 256M),
#   SPILL_SIZES   run on these sizes (default "1"; empty: none)
#   REFS          sizes to run HF tokenizers and rustbpe on (default none;
#                 "1 4" as in the issue; installed into target/bench-venv)
#   REF_MEMORY    address-space cap of each reference run (default 20G; set
#                 with prlimit --as), so a reference tool that outgrows the
#                 machine fails as "out of memory at REF_MEMORY" instead of
#                 waking the kernel's OOM killer
#   KEEP=1        keep the generated corpora
# Another process on the machine skews every figure: the table records the
# load average before each run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir="$1"
mkdir -p "$dir/logs" "$dir/out"
dir="$(cd "$dir" && pwd)"
src="${BENCH_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/bench-corpus}"
sizes="${SIZES:-1 4 16}"
threads="${THREADS:-2}"
vocab="${VOCAB:-32000}"
max_memory="${MAX_MEMORY:-2G}"
in_memory="${IN_MEMORY:-1 4}"
spill="${SPILL:-256M}"
spill_sizes="${SPILL_SIZES-1}"
refs="${REFS:-}"
ref_memory="${REF_MEMORY:-20G}"
ref_memory_bytes="$(numfmt --from=iec "$ref_memory")"
min_frequency="${MIN_FREQUENCY:-}"
prune=()
limit_note=""
if [ -n "$min_frequency" ]; then
  prune=(--min-frequency "$min_frequency")
  limit_note=", min-frequency $min_frequency"
fi

if [ ! -d "$src" ] || [ -z "$(ls -A "$src" 2>/dev/null)" ]; then
  "$root/scripts/bench/make-corpus.sh" "$src" >&2
fi
if [ ! -x /usr/bin/time ]; then
  echo "GNU time is missing: apt-get install time" >&2
  exit 1
fi

echo "building tok and heaps_corpus (release)" >&2
(cd "$root" && cargo build -q --release -p cli --bin tok &&
  cargo build -q --release -p tokenizer-bench --example heaps_corpus)
tok="$root/target/release/tok"
gen="$root/target/release/examples/heaps_corpus"

if [ -n "$refs" ]; then
  venv="$root/target/bench-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import tokenizers, rustbpe' 2>/dev/null; then
    echo "installing tokenizers and rustbpe into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q tokenizers rustbpe
  fi
fi
export RAYON_NUM_THREADS="$threads" RAYON_RS_NUM_THREADS="$threads" TOKENIZERS_PARALLELISM=true

results="$dir/results.md"
{
  echo "## BPE training at scale, vocab $vocab, $threads threads ($(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB RAM)"
  echo
  echo "| corpus | tool | limit | wall | peak RSS | distinct pieces | spilled runs | load before | result |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---|"
} | tee "$results"

# measure NAME CMD...: runs CMD under GNU time -v; sets wall, rss_mib, status.
measure() {
  local name="$1"; shift
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  set +e
  /usr/bin/time -v "$@" >"$dir/logs/$name.out" 2>"$dir/logs/$name.err"
  status=$?
  set -e
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/logs/$name.err")"
  rss_mib="$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$dir/logs/$name.err")"
}

# row CORPUS TOOL LIMIT RESULT: one table line from the last measure.
row() {
  local distinct="-" runs="-"
  local line
  line="$(grep -m1 '^counted ' "$dir/logs/$name.out" 2>/dev/null || true)"
  if [ -n "$line" ]; then
    distinct="$(echo "$line" | awk '{print $2}')"
    runs="$(echo "$line" | sed -E 's/.* ([0-9]+) sorted runs.*/\1/')"
  fi
  echo "| $1 | $2 | $3 | $wall | ${rss_mib} MiB | $distinct | $runs | $load | $4 |" | tee -a "$results"
}

for gib in $sizes; do
  corpus="$dir/corpus-${gib}g"
  if [ ! -d "$corpus" ]; then
    echo "generating $corpus" >&2
    "$gen" "$src" "$corpus.partial" "${gib}G"
    mv "$corpus.partial" "$corpus"
  fi
  name="ours-${gib}g-limit"
  out="$dir/out/$name.json"
  measure "$name" "$tok" train "$corpus" --vocab "$vocab" --threads "$threads" -q --name bpe \
    --max-memory "$max_memory" "${prune[@]}" -o "$out"
  result="ok"; [ "$status" -eq 0 ] || result="failed: $(grep -m1 '^tok:' "$dir/logs/$name.err" | head -c 300)"
  row "${gib} GiB" "ours" "$max_memory$limit_note" "$result"
  limited="$out"

  for s in $spill_sizes; do
    [ "$s" = "$gib" ] || continue
    name="ours-${gib}g-spill"
    out="$dir/out/$name.json"
    measure "$name" "$tok" train "$corpus" --vocab "$vocab" --threads "$threads" -q --name bpe \
      --max-memory "$spill" "${prune[@]}" -o "$out"
    result="ok"; [ "$status" -eq 0 ] || result="failed: $(grep -m1 '^tok:' "$dir/logs/$name.err" | head -c 300)"
    if [ "$status" -eq 0 ] && [ -f "$limited" ]; then
      if cmp -s "$out" "$limited"; then result="identical to the $max_memory run"; else result="DIFFERS from the $max_memory run"; fi
    fi
    row "${gib} GiB" "ours" "$spill$limit_note" "$result"
  done

  for s in $in_memory; do
    [ "$s" = "$gib" ] || continue
    name="ours-${gib}g-free"
    out="$dir/out/$name.json"
    measure "$name" "$tok" train "$corpus" --vocab "$vocab" --threads "$threads" -q --name bpe -o "$out"
    result="ok"; [ "$status" -eq 0 ] || result="failed: $(grep -m1 '^tok:' "$dir/logs/$name.err" | head -c 300)"
    if [ "$status" -eq 0 ] && [ -f "$limited" ] && [ -z "$min_frequency" ]; then
      if cmp -s "$out" "$limited"; then result="identical to the $max_memory run"; else result="DIFFERS from the $max_memory run"; fi
    fi
    row "${gib} GiB" "ours" "none" "$result"
  done

  for s in $refs; do
    [ "$s" = "$gib" ] || continue
    for tool in rustbpe hf; do
      name="$tool-${gib}g"
      measure "$name" prlimit --as="$ref_memory_bytes" -- \
        "$venv/bin/python" "$root/scripts/bench/train_ref.py" "$tool" --stream \
        --vocab "$vocab" --out "$dir/out/$name.hex" "$corpus"
      result="ok"
      if [ "$status" -ne 0 ]; then
        if grep -q -i -E "memory|killed" "$dir/logs/$name.err" || [ "$status" -eq 137 ]; then
          result="out of memory at $ref_memory"
        else
          result="failed ($status)"
        fi
      fi
      row "${gib} GiB" "$tool" "none" "$result"
    done
  done

  if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$corpus"
  fi
done
echo
versions="tok $(git -C "$root" rev-parse --short HEAD)"
if [ -n "$refs" ]; then
  versions="$versions, $("$venv/bin/python" -c 'import importlib.metadata as m; print("tokenizers", m.version("tokenizers"), "rustbpe", m.version("rustbpe"))')"
fi
echo "versions: $versions" | tee -a "$results"
