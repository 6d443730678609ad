#!/usr/bin/env python3
"""Check that our exports load in Python and encode exactly like `tok`.

For each tokenizer (a file written by `tok train`, or a pretrained name) and
each text file:
  - `tok export --format hf` -> tokenizers.Tokenizer.from_file(...).encode(text)
    must equal `tok tokenize --allow-special all` (HF always matches added
    tokens);
  - BPE only: `tok export --format tiktoken` -> tiktoken.Encoding(name,
    pat_str=..., mergeable_ranks=load_tiktoken_bpe(path), special_tokens=...)
    .encode_ordinary(text) must equal `tok tokenize`, and .encode(text,
    allowed_special="all") must equal `tok tokenize --allow-special all`.

Texts are read as bytes and decoded as UTF-8 (Python's text mode would turn
CRLF into LF); files that are not UTF-8 are skipped with a notice, since
neither library takes bytes. Every export goes to a fresh temporary path
(tiktoken caches rank files by path).

Usage:
  scripts/check_interop.py --tok target/debug/tok -t bpe.json -t o200k_base TEXT...

Exit status: 0 when everything matches, 1 on a mismatch, 2 on a usage or
setup problem, 3 when `tokenizers` or `tiktoken` is not installed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

# tiktoken's regexes, by our pattern names (tokenizer/src/pretok/mod.rs holds
# the same strings); and the pretrained vocabularies' patterns and specials.
PATTERNS = {
    "gpt4": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
    "gpt4o": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    # No pre-tokenization: the whole text is one piece.
    "none": r"""[\s\S]+""",
}

PRETRAINED = {
    "cl100k_base": (
        "gpt4",
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
    "o200k_base": ("gpt4o", {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
    "r50k_base": ("gpt2", {"<|endoftext|>": 50256}),
    "p50k_base": ("gpt2", {"<|endoftext|>": 50256}),
}


def describe(spec):
    """(kind, pattern name, specials dict) of a tokenizer spec."""
    if spec in PRETRAINED:
        pattern, specials = PRETRAINED[spec]
        return "bpe", pattern, specials
    with open(spec, "rb") as f:
        doc = json.loads(f.read().decode("utf-8"))
    specials = {s["text"]: s["id"] for s in doc.get("specials", [])}
    return doc["kind"], doc.get("pattern"), specials


class Unencodable(Exception):
    """A character vocabulary without fallback met a character it lacks."""


def run_tok(tok, args):
    r = subprocess.run([tok] + args, capture_output=True)
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip()
        if "not in the character vocabulary" in err:
            raise Unencodable(err)
        print(f"check_interop: tok {' '.join(args)} failed: {err}", file=sys.stderr)
        sys.exit(2)
    return r.stdout


def our_ids(tok, spec, path, allow_all):
    args = ["tokenize", "-t", spec, path]
    if allow_all:
        args += ["--allow-special", "all"]
    return [int(x) for x in run_tok(tok, args).split()]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tok", required=True, help="path of the tok binary")
    ap.add_argument("-t", "--tokenizer", action="append", required=True, help="tokenizer file or pretrained name")
    ap.add_argument("texts", nargs="+", help="text files to encode")
    ap.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    args = ap.parse_args()

    try:
        import tiktoken
        import tiktoken.load
        import tokenizers
    except ImportError as e:
        print(f"check_interop: NOTICE: {e}; pip install tokenizers tiktoken", file=sys.stderr)
        sys.exit(3)

    texts = []
    for path in args.texts:
        with open(path, "rb") as f:
            raw = f.read()
        try:
            texts.append((path, raw.decode("utf-8")))
        except UnicodeDecodeError:
            print(f"check_interop: skipping {path}: not UTF-8", file=sys.stderr)

    failures = 0
    checks = 0
    with tempfile.TemporaryDirectory(prefix="toklab-interop-") as tmp:
        for n, spec in enumerate(args.tokenizer):
            kind, pattern, specials = describe(spec)
            hf_path = os.path.join(tmp, f"{n}-tokenizer.json")
            run_tok(args.tok, ["export", "-t", spec, "--format", "hf", "-o", hf_path])
            hf = tokenizers.Tokenizer.from_file(hf_path)
            enc = None
            if kind == "bpe":
                tk_path = os.path.join(tmp, f"{n}-ranks.tiktoken")
                run_tok(args.tok, ["export", "-t", spec, "--format", "tiktoken", "-o", tk_path])
                enc = tiktoken.Encoding(
                    f"toklab-{n}",
                    pat_str=PATTERNS[pattern],
                    mergeable_ranks=tiktoken.load.load_tiktoken_bpe(tk_path),
                    special_tokens=specials,
                )
            for path, text in texts:
                try:
                    ours_all = our_ids(args.tok, spec, path, True)
                except Unencodable as e:
                    print(f"skip {spec} {path}: {e}")
                    continue
                comparisons = [("hf", hf.encode(text, add_special_tokens=False).ids, ours_all)]
                if enc is not None:
                    ours = our_ids(args.tok, spec, path, False)
                    comparisons += [
                        ("tiktoken", enc.encode_ordinary(text), ours),
                        ("tiktoken+specials", enc.encode(text, allowed_special="all"), ours_all),
                    ]
                for label, theirs, want in comparisons:
                    checks += 1
                    if theirs != want:
                        failures += 1
                        i = first_difference(theirs, want)
                        print(
                            f"MISMATCH {label} {spec} {path}: {len(theirs)} vs {len(want)} ids, first difference "
                            f"at {i}: {label} {theirs[i:i + 5]} ours {want[i:i + 5]}"
                        )
                    elif not args.quiet:
                        print(f"ok {label} {spec} {path} ({len(theirs)} ids)")
    print(f"check_interop: {checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
