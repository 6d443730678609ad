#!/usr/bin/env python3
"""PyTorch's side of scripts/bench/lstm.sh: training throughput of
Embedding -> nn.LSTM(batch_first=True) -> Linear on CPU.

Same work per step as `cargo run --release -p cli --example bench_lstm_train`:
random token batches (B x T inputs and targets), mean cross-entropy,
backward, clip_grad_norm_(1.0), Adam(lr=2e-3). Prints one JSON line:
tokens/s, GFLOP/s (the flops convention of ModelConfig::train_flops_per_token),
% of the FMA peak if given, peak RSS.

Usage: pytorch_lstm.py --vocab 65 --hidden 512 --embed 512 --layers 2 \
           --seq 128 --batch 32 --steps 10 --warmup 2 --threads 2 [--peak GFLOPS] \
           [--ids SHARD]   (windows of a token shard instead of random ids)
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn


class CharLSTM(nn.Module):
    def __init__(self, vocab, embed, hidden, layers, cell):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        rnn = nn.LSTM if cell == "lstm" else nn.RNN
        self.lstm = rnn(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x):
        h, _ = self.lstm(self.embedding(x))
        return self.head(h)


def load_shard(path):
    """The tokens of an llm.c shard (1024-byte header, u16 or u32 ids)."""
    import numpy as np

    head = np.fromfile(path, dtype="<i4", count=256)
    dtype = {(20240520, 1): "<u2", (20240801, 7): "<u4"}[(int(head[0]), int(head[1]))]
    toks = np.fromfile(path, dtype=dtype, offset=1024)
    assert len(toks) == head[2], f"{path}: header says {head[2]} tokens, file has {len(toks)}"
    return torch.from_numpy(toks.astype(np.int64))


def train_flops_per_token(vocab, embed, hidden, layers, gates):
    fwd = sum(2 * gates * hidden * ((embed if k == 0 else hidden) + hidden) for k in range(layers))
    return 3 * fwd + 6 * hidden * vocab


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--embed", type=int, default=None)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cell", choices=["lstm", "rnn"], default="lstm")
    p.add_argument("--peak", type=float, default=None, help="FMA peak GFLOP/s for the % column")
    p.add_argument("--ids", default=None, help="draw batches as windows of this llm.c token shard")
    a = p.parse_args()
    embed = a.embed or a.hidden
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = CharLSTM(a.vocab, embed, a.hidden, a.layers, a.cell)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    ids = load_shard(a.ids) if a.ids else None
    if ids is not None:
        assert len(ids) > a.seq and int(ids.max()) < a.vocab, f"{a.ids}: too short or an id >= V"

    def batch():
        if ids is None:
            x = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
            y = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
            return x, y
        o = torch.randint(0, len(ids) - a.seq, (a.batch, 1), generator=g) + torch.arange(a.seq)
        return ids[o], ids[o + 1]

    def step():
        x, y = batch()
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits.reshape(-1, a.vocab), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    c0 = time.process_time()
    loss = None
    step_secs = []
    for _ in range(a.steps):
        ts = time.perf_counter()
        loss = step()
        step_secs.append(time.perf_counter() - ts)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    tps = a.steps * a.batch * a.seq / secs
    gates = 4 if a.cell == "lstm" else 1
    gflops = tps * train_flops_per_token(a.vocab, embed, a.hidden, a.layers, gates) / 1e9
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "vocab": a.vocab,
        "hidden": a.hidden,
        "embed": embed,
        "layers": a.layers,
        "batch": a.batch,
        "seq": a.seq,
        "threads": a.threads,
        "steps": a.steps,
        "tokens_per_s": round(tps, 1),
        "best_step_tokens_per_s": round(a.batch * a.seq / min(step_secs), 1) if step_secs else 0.0,
        "step_ms": [round(1e3 * x, 2) for x in step_secs],
        "gflops": round(gflops, 2),
        "cpu_gflops": round(gflops * secs / cpu * a.threads, 2) if cpu > 0 else None,
        "peak_gflops": a.peak,
        "peak_rss_mib": round(rss_mib, 1),
        "final_loss": loss,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
