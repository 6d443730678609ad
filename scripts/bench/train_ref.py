#!/usr/bin/env python3
"""Trains a byte-level BPE with a reference tool, for scripts/bench/train.sh.

Usage: train_ref.py {rustbpe,hf} --vocab N --out TOKENS.hex PATH...

PATHs are files or directories, walked recursively in sorted order; each file
is one document (decoded as UTF-8, which the benchmark corpora are), exactly as
our `bench_bpe_train` example feeds them. The pre-tokenizer is cl100k's split
(`Pattern::Gpt4`): tiktoken's pattern for rustbpe (fancy-regex, like ours), and
its classic non-possessive spelling for HF, whose regex engine misreads the
possessive `\\p{N}{1,3}+` (see research notes §9).

`--out` writes the bytes of every learned token, one hex line per token, in
the order the tokens were created (ids 256.. for us and rustbpe), so the
three trainers can be diffed line by line. HF also lists merges whose bytes
already existed; they are written too, prefixed with "dup ".
"""
import argparse
import json
import os
import sys
import time

GPT4 = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
GPT4_HF = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def walk(path):
    if os.path.isdir(path):
        for name in sorted(os.listdir(path)):
            yield from walk(os.path.join(path, name))
    else:
        yield path


def byte_level_decoder():
    """GPT-2's bytes_to_unicode, inverted: char -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def train_rustbpe(docs, vocab):
    import rustbpe

    tok = rustbpe.Tokenizer()
    tok.train_from_iterator(iter(docs), vocab, pattern=GPT4)
    ranks = sorted(tok.get_mergeable_ranks(), key=lambda kv: kv[1])
    return [(bytes(t), False) for t, r in ranks if r >= 256]


def train_hf(docs, vocab):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GPT4_HF), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=0,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs) if isinstance(docs, list) else None)
    dec = byte_level_decoder()
    model = json.loads(tok.to_str())["model"]
    out, seen = [], set()
    for m in model["merges"]:
        left, right = m if isinstance(m, list) else m.split(" ", 1)
        t = bytes(dec[c] for c in left + right)
        out.append((t, t in seen))
        seen.add(t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=["rustbpe", "hf"])
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--out")
    ap.add_argument(
        "--stream",
        action="store_true",
        help="feed the documents one at a time (a generator) instead of holding them all in a list, "
        "as a corpus larger than memory needs",
    )
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    t0 = time.perf_counter()
    docs = (open(f, "rb").read().decode("utf-8") for p in args.paths for f in walk(p))
    if not args.stream:
        docs = list(docs)
    tokens = (train_rustbpe if args.tool == "rustbpe" else train_hf)(docs, args.vocab)
    print(f"tool={args.tool} tokens={len(tokens)} time_total={time.perf_counter() - t0:.3f}", file=sys.stderr)
    if args.out:
        with open(args.out, "w") as f:
            for t, dup in tokens:
                f.write(("dup " if dup else "") + t.hex() + "\n")


if __name__ == "__main__":
    main()
