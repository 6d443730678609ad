#!/usr/bin/env python3
"""Check a toklab shard directory with numpy, the way other tools read it.

Every shard listed in manifest.json is read exactly as llm.c's Python
loaders and nanoGPT-style scripts do:

    header = np.fromfile(path, dtype=np.int32, count=256)
    tokens = np.fromfile(path, dtype=np.uint16, offset=1024)   # uint32 for magic 20240801

and must have the header's magic/version, exactly header[2] tokens, ids
below the vocabulary size, and the count the manifest lists. Prints one JSON
object per split (tokens, shards, sum of ids) so a test
can compare it with the Rust reader; exits 1 with a message on any problem.

Usage: scripts/check_shards.py SHARD_DIR
"""

import json
import os
import sys

import numpy as np

FORMATS = {20240520: (1, np.uint16), 20240801: (7, np.uint32)}


def fail(msg):
    print(f"check_shards: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        fail("usage: check_shards.py SHARD_DIR")
    root = sys.argv[1]
    with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    vocab = manifest["tokenizer"]["vocab_size"]
    for split in ("train", "val"):
        info = manifest["splits"][split]
        total, id_sum = 0, 0
        for entry in info["shards"]:
            path = os.path.join(root, entry["file"])
            header = np.fromfile(path, dtype=np.int32, count=256)
            magic, version, count = int(header[0]), int(header[1]), int(header[2])
            if magic not in FORMATS:
                fail(f"{path}: bad magic {magic}")
            want_version, dtype = FORMATS[magic]
            if version != want_version:
                fail(f"{path}: version {version}, expected {want_version} for magic {magic}")
            if np.any(header[3:] != 0):
                fail(f"{path}: nonzero reserved header ints")
            tokens = np.fromfile(path, dtype=dtype, offset=1024)
            if len(tokens) != count:
                fail(f"{path}: header says {count} tokens, numpy read {len(tokens)}")
            if count != entry["tokens"]:
                fail(f"{path}: manifest says {entry['tokens']} tokens, header says {count}")
            if count and int(tokens.max()) >= vocab:
                fail(f"{path}: token id {int(tokens.max())} >= vocab size {vocab}")
            total += count
            id_sum += int(tokens.astype(np.uint64).sum())
        if total != info["tokens"]:
            fail(f"{split}: manifest says {info['tokens']} tokens, shards hold {total}")
        print(json.dumps({"split": split, "tokens": total, "shards": len(info["shards"]),
                          "id_sum": id_sum}))


if __name__ == "__main__":
    main()
