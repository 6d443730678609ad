#!/usr/bin/env bash
# Benchmarks encoding with o200k_base and cl100k_base: ours against
# tiktoken-rs (Rust, CoreBPE::encode_ordinary) and Python tiktoken, on 1 and
# 2 threads, side by side in one run, and prints a markdown table of MB/s
# (median of RUNS encodes of the whole corpus) with ratios to ours.
#
#   scripts/bench/encode.sh
#   RUNS=3 BENCH_CORPUS=DIR scripts/bench/encode.sh
#
# Environment:
#   RUNS           runs per tool, vocabulary and thread count (default 5)
#   BENCH_CORPUS   the benchmark corpus directory; built with
#                  scripts/bench/make-corpus.sh when missing
#                  (default
#                  ~/.cache/bench-corpus)
#
# Ours and tiktoken-rs run in tokenizer/benches/encode.rs (table mode),
# which first checks that both give identical ids on every document.
# Python tiktoken is installed into target/bench-venv (reused when present)
# and runs offline: tiktoken cannot download its rank files here, so the
# files shipped in the tiktoken-rs crate are copied into a cache directory
# under the names tiktoken looks for (sha1 of the download URL) and
# TIKTOKEN_CACHE_DIR points there; tiktoken still checks their sha256.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

runs="${RUNS:-5}"
if [ -n "${BENCH_CORPUS:-}" ]; then
  corpus="$BENCH_CORPUS"
else
  corpus="${XDG_CACHE_HOME:-$HOME/.cache}/bench-corpus"
fi
if [ ! -d "$corpus" ]; then
  echo "building the benchmark corpus in $corpus" >&2
  "$root/scripts/bench/make-corpus.sh" "$corpus" >&2
fi

venv="$root/target/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import tiktoken' 2>/dev/null; then
  echo "installing tiktoken into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q tiktoken
fi

# tiktoken's rank files from the tiktoken-rs crate source.
cargo fetch -q
assets="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/tiktoken-rs-0.12.1/assets 2>/dev/null | head -1)"
[ -d "$assets" ] || { echo "tiktoken-rs 0.12.1 sources not found under ${CARGO_HOME:-$HOME/.cargo}/registry/src" >&2; exit 1; }
cache="$root/target/tiktoken-cache"
mkdir -p "$cache"
for name in o200k_base cl100k_base; do
  key="$(printf '%s' "https://openaipublic.blob.core.windows.net/encodings/$name.tiktoken" | sha1sum | cut -d' ' -f1)"
  cp "$assets/$name.tiktoken" "$cache/$key"
done

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "building and running ours + tiktoken-rs (release)..." >&2
TOKLAB_ENCODE_TABLE=1 TOKLAB_ENCODE_RUNS="$runs" TOKLAB_BENCH_CORPUS="$corpus" \
  cargo bench -q -p tokenizer-bench --bench encode >"$out/rust.txt"

echo "running Python tiktoken..." >&2
TIKTOKEN_CACHE_DIR="$cache" "$venv/bin/python" - "$corpus" "$runs" >"$out/py.txt" <<'EOF'
import os, sys, time, statistics
import tiktoken

root, runs = sys.argv[1], int(sys.argv[2])
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
docs = []
for p in paths:
    try:
        # Bytes, then UTF-8: text mode would turn CRLF into LF.
        docs.append(open(p, "rb").read().decode("utf-8"))
    except UnicodeDecodeError:
        pass  # same rule as the Rust side: UTF-8 documents only
total = sum(len(d.encode("utf-8")) for d in docs)
for name in ["o200k_base", "cl100k_base"]:
    enc = tiktoken.get_encoding(name)
    for threads in [1, 2]:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            if threads == 1:
                for d in docs:
                    enc.encode_ordinary(d)
            else:
                enc.encode_ordinary_batch(docs, num_threads=threads)
            times.append(time.perf_counter() - t)
        print(f"RESULT tiktoken-py {name} {threads} {total / statistics.median(times) / 1e6:.1f}")
EOF

python3 - "$out/rust.txt" "$out/py.txt" <<'EOF'
import sys
rows = {}
corpus = ""
for path in sys.argv[1:]:
    for line in open(path):
        parts = line.split()
        if parts and parts[0] == "CORPUS":
            corpus = f"{parts[1]}: {parts[2]} documents, {int(parts[3]) / 1e6:.1f} MB"
        if parts and parts[0] == "RESULT":
            _, tool, vocab, threads, mbps = parts
            rows[(tool, vocab, int(threads))] = float(mbps)
print(f"Encoding throughput, MB/s (median); corpus {corpus}\n")
print("| vocabulary | threads | toklab | tiktoken-rs | Python tiktoken | toklab / tiktoken-rs | toklab / Python |")
print("|---|---:|---:|---:|---:|---:|---:|")
for vocab in ["o200k_base", "cl100k_base"]:
    for threads in [1, 2]:
        ours = rows.get(("toklab", vocab, threads))
        rs = rows.get(("tiktoken-rs", vocab, threads))
        py = rows.get(("tiktoken-py", vocab, threads))
        f = lambda v: f"{v:.1f}" if v else "n/a"
        r = lambda a, b: f"{a / b:.2f}x" if a and b else "n/a"
        print(f"| {vocab} | {threads} | {f(ours)} | {f(rs)} | {f(py)} | {r(ours, rs)} | {r(ours, py)} |")
for vocab in ["o200k_base", "cl100k_base"]:
    one, two = rows.get(("toklab", vocab, 1)), rows.get(("toklab", vocab, 2))
    if one and two:
        print(f"\ntoklab {vocab}: 2 threads = {two / one:.2f}x one thread (linear = 2.00x)")
EOF
