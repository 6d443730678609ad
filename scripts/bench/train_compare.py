#!/usr/bin/env python3
"""Runs BPE trainers side by side and prints a markdown table; see train.sh.

Usage: train_compare.py --runs N --outdir DIR CASE...
where CASE is `corpus_name:vocab:path`. For each case it runs, round-robin
(so that drift in machine speed hits every tool alike), N times:
  ours     target/release/examples/bench_bpe_train PATH --vocab V
  rustbpe  train_ref.py rustbpe --vocab V PATH
  hf       train_ref.py hf --vocab V PATH
each under `/usr/bin/time -f '%e %M'` (wall seconds, peak RSS KiB). The
environment (thread counts) is inherited from the caller.

It prints the table (median wall, median peak RSS, ratio to ours), our time
split from the median run, and whether the learned tokens equal rustbpe's
(exactly, in order) and HF's (HF breaks ties by its own ids, which order the
bytes differently, so only the set of tokens is compared).
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OURS = os.path.join(ROOT, "target", "release", "examples", "bench_bpe_train")
PY = os.path.join(ROOT, "target", "bench-venv", "bin", "python")
REF = os.path.join(HERE, "train_ref.py")


def command(tool, vocab, path, out):
    if tool == "ours":
        return [OURS, path, "--vocab", str(vocab), "--out", out]
    return [PY, REF, tool, "--vocab", str(vocab), "--out", out, path]


def run(cmd):
    """Runs cmd under /usr/bin/time; returns (wall s, peak RSS MiB, stderr)."""
    p = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    line = [l for l in p.stderr.splitlines() if l.startswith("TIME ")][-1]
    _, wall, rss = line.split()
    return float(wall), int(rss) / 1024, p.stderr


def parse_kv(text):
    kv = {}
    for line in text.splitlines():
        for item in line.split():
            if "=" in item:
                k, v = item.split("=", 1)
                kv[k] = v
    return kv


def tokens(path):
    with open(path) as f:
        return [l.split()[-1] for l in f if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--tools", default="ours,rustbpe,hf")
    ap.add_argument("cases", nargs="+")
    args = ap.parse_args()
    tools = args.tools.split(",")
    os.makedirs(args.outdir, exist_ok=True)

    rows, notes = [], []
    for case in args.cases:
        name, vocab, path = case.split(":", 2)
        vocab = int(vocab)
        results = {t: [] for t in tools}
        outs = {t: os.path.join(args.outdir, f"{t}-{name}-{vocab}.hex") for t in tools}
        for i in range(args.runs):
            for t in tools:
                wall, rss, err = run(command(t, vocab, path, outs[t]))
                results[t].append((wall, rss, err))
                print(f"  {name} {vocab} run {i + 1}/{args.runs} {t}: {wall:.2f} s, {rss:.0f} MiB", file=sys.stderr)
        med = {t: statistics.median(w for w, _, _ in results[t]) for t in tools}
        base = med.get("ours")
        for t in tools:
            rss = statistics.median(r for _, r, _ in results[t])
            ratio = f"{med[t] / base:.2f}" if base else "-"
            rows.append(f"| {t} | {name} | {vocab} | {med[t]:.2f} | {rss:.0f} | {ratio} |")
        if "ours" in tools:
            runs = sorted(results["ours"], key=lambda r: r[0])
            kv = parse_kv(runs[len(runs) // 2][2])
            notes.append(
                f"- ours on {name}, vocab {vocab} (median run, {kv.get('threads')} threads): "
                f"read {kv.get('time_read')} s, count {kv.get('time_count')} s "
                f"({kv.get('bytes')} bytes -> {kv.get('distinct')} distinct pieces), "
                f"setup {kv.get('time_setup')} s, initial pairs {kv.get('time_pairs')} s, "
                f"merge loop {kv.get('time_merge')} s ({kv.get('merges')} merges, stop {kv.get('stop')}, "
                f"{kv.get('duplicates')} duplicates)"
            )
            ours = tokens(outs["ours"])
            if "rustbpe" in tools:
                theirs = tokens(outs["rustbpe"])
                if theirs == ours:
                    notes.append(f"- {name}/{vocab}: our {len(ours)} merges equal rustbpe's exactly, in order")
                else:
                    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                    notes.append(f"- {name}/{vocab}: merges differ from rustbpe's from merge {first} on")
            if "hf" in tools:
                hf = tokens(outs["hf"])
                dups = sum(1 for l in open(outs["hf"]) if l.startswith("dup "))
                same = len(set(ours) & set(hf))
                notes.append(
                    f"- {name}/{vocab}: HF learned {len(hf)} merges ({dups} duplicates); "
                    f"{same} of our {len(ours)} tokens are among them"
                )

    print("| tool | corpus | vocab | wall s (median) | peak RSS MiB | ratio to ours |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
