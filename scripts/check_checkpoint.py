#!/usr/bin/env python3
"""check_checkpoint.py -- checks that a toklab checkpoint is what PyTorch expects.

Usage: check_checkpoint.py RUN_DIR_OR_MODEL_FILE [--no-torch]

Needs only `safetensors` and `numpy` (pip install safetensors numpy). It
1. reads model.safetensors with safetensors.numpy and checks the tensor names,
   shapes and dtypes against the state_dict of
   Embedding(V, E) -> nn.LSTM / nn.RNN(E, H, num_layers=L, batch_first=True) -> Linear(H, V)
   named `embedding`, `lstm` / `rnn`, `head` (built from the `config` in the
   header's __metadata__; `head.weight` absent when tied), all float32 and finite;
2. if optimizer.safetensors is beside it, checks exp_avg.<name> / exp_avg_sq.<name>
   the same way and that both files were saved at the same step;
3. if forward_check.json is beside it (written by model::checkpoint::write_forward_probe),
   recomputes the logits and the mean cross-entropy with a from-scratch float64
   numpy forward pass and compares them with the values our Rust model wrote;
4. if torch is importable (and --no-torch is not given), builds that PyTorch
   module, load_state_dict(strict=True) (aliasing head.weight to
   embedding.weight when tied, as a tied module's state_dict lists both), and
   compares PyTorch's float32 forward pass with ours as well.

Exit status 0 when everything holds, 1 with one line per problem otherwise.
"""
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

# Our float32 logits against a float64 or float32 forward pass of the same weights.
LOGIT_TOL = 1e-5
LOSS_TOL = 1e-5


def expected_shapes(cfg):
    """name -> shape, in state_dict order, for the module the config describes."""
    V, E, H, L = cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["layers"]
    m = cfg["cell"]  # "lstm" or "rnn"
    G = 4 if m == "lstm" else 1
    shapes = {"embedding.weight": (V, E)}
    for k in range(L):
        d_in = E if k == 0 else H
        shapes[f"{m}.weight_ih_l{k}"] = (G * H, d_in)
        shapes[f"{m}.weight_hh_l{k}"] = (G * H, H)
        shapes[f"{m}.bias_ih_l{k}"] = (G * H,)
        shapes[f"{m}.bias_hh_l{k}"] = (G * H,)
    if not cfg["tie"]:
        shapes["head.weight"] = (V, H)
    shapes["head.bias"] = (V,)
    return shapes


def check_tensors(label, tensors, shapes, prefix, problems):
    want = {prefix + n: s for n, s in shapes.items()}
    for name in sorted(set(want) - set(tensors)):
        problems.append(f"{label}: missing tensor {name!r}")
    for name in sorted(set(tensors) - set(want)):
        problems.append(f"{label}: unexpected tensor {name!r}")
    for name in sorted(set(want) & set(tensors)):
        t = tensors[name]
        if t.dtype != np.float32:
            problems.append(f"{label}: {name} has dtype {t.dtype}, expected float32")
        if tuple(t.shape) != want[name]:
            problems.append(f"{label}: {name} has shape {tuple(t.shape)}, expected {want[name]}")
        if not np.all(np.isfinite(t)):
            problems.append(f"{label}: {name} holds non-finite values")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_forward(P, cfg, x, y):
    """Logits [B, T, V] and mean cross-entropy, float64, from zero state."""
    m, L = cfg["cell"], cfg["layers"]
    P = {k: v.astype(np.float64) for k, v in P.items()}
    inp = P["embedding.weight"][x]  # [B, T, E]
    B, T, _ = inp.shape
    H = cfg["hidden"]
    for k in range(L):
        Wih, Whh = P[f"{m}.weight_ih_l{k}"], P[f"{m}.weight_hh_l{k}"]
        bih, bhh = P[f"{m}.bias_ih_l{k}"], P[f"{m}.bias_hh_l{k}"]
        h = np.zeros((B, H))
        c = np.zeros((B, H))
        outs = []
        for t in range(T):
            z = (inp[:, t] @ Wih.T + bih) + (h @ Whh.T + bhh)
            if m == "lstm":  # gate rows i, f, g, o
                i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
                c = f * c + i * g
                h = o * np.tanh(c)
            else:
                h = np.tanh(z)
            outs.append(h)
        inp = np.stack(outs, 1)
    W = P["embedding.weight"] if cfg["tie"] else P["head.weight"]
    logits = inp @ W.T + P["head.bias"]
    mx = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - mx).sum(-1)) + mx[..., 0]
    nll = lse - np.take_along_axis(logits, y[..., None], -1)[..., 0]
    return logits, float(nll.mean())


def compare(label, logits, loss, probe, problems):
    ours = np.asarray(probe["logits"], dtype=np.float32).reshape(logits.shape)
    err = float(np.abs(ours.astype(np.float64) - logits).max())
    lerr = abs(probe["loss"] - loss)
    print(f"  {label}: max |logit diff| {err:.2e}, loss {loss:.8f} vs ours {probe['loss']:.8f} (|diff| {lerr:.2e})")
    if not err <= LOGIT_TOL:
        problems.append(f"{label}: logits differ from ours by {err:.3e} (tolerance {LOGIT_TOL})")
    if not lerr <= LOSS_TOL:
        problems.append(f"{label}: loss differs from ours by {lerr:.3e} (tolerance {LOSS_TOL})")


def torch_check(P, cfg, x, y, probe, problems):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    V, E, H, L = cfg["vocab"], cfg["embed"], cfg["hidden"], cfg["layers"]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, E)
            rnn = nn.LSTM if cfg["cell"] == "lstm" else nn.RNN
            setattr(self, cfg["cell"], rnn(E, H, num_layers=L, batch_first=True))
            self.head = nn.Linear(H, V)
            if cfg["tie"]:
                self.head.weight = self.embedding.weight

        def forward(self, x):
            out, _ = getattr(self, cfg["cell"])(self.embedding(x))
            return self.head(out)

    model = Model()
    sd = {k: torch.from_numpy(v.copy()) for k, v in P.items()}
    if cfg["tie"]:
        sd["head.weight"] = sd["embedding.weight"]  # a tied state_dict lists the shared tensor twice
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in sd.items()}
    if want != got:
        problems.append(f"torch: state_dict mismatch: torch wants {want}, file gives {got}")
        return
    model.load_state_dict(sd, strict=True)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).double()
        loss = F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1)).item()
    compare(f"torch {torch.__version__} float32", logits.numpy(), loss, probe, problems)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    use_torch = "--no-torch" not in argv
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path = args[0]
    run_dir = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    model_path = os.path.join(path, "model.safetensors") if os.path.isdir(path) else path
    problems = []

    with safe_open(model_path, framework="numpy") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        print(f"{model_path}: no model config in __metadata__: not a toklab checkpoint", file=sys.stderr)
        return 1
    cfg = json.loads(meta["config"])
    shapes = expected_shapes(cfg)
    P = load_file(model_path)
    check_tensors(model_path, P, shapes, "", problems)
    n = sum(int(np.prod(s)) for s in shapes.values())
    print(f"{model_path}: {cfg['cell']} V={cfg['vocab']} E={cfg['embed']} H={cfg['hidden']} "
          f"L={cfg['layers']} tie={cfg['tie']}, {len(P)} tensors, {n} parameters, step {meta.get('step')}")

    opt_path = os.path.join(run_dir, "optimizer.safetensors")
    if os.path.exists(opt_path):
        with safe_open(opt_path, framework="numpy") as f:
            ometa = f.metadata() or {}
        O = load_file(opt_path)
        want = dict(**{f"exp_avg.{k}": v for k, v in shapes.items()},
                    **{f"exp_avg_sq.{k}": v for k, v in shapes.items()})
        check_tensors(opt_path, O, want, "", problems)
        if ometa.get("step") != meta.get("step"):
            problems.append(f"{opt_path}: step {ometa.get('step')} but the model is at step {meta.get('step')}")
        if "exp_avg_sq.head.bias" in O and np.any(O["exp_avg_sq.head.bias"] < 0):
            problems.append(f"{opt_path}: negative second moments")
        print(f"{opt_path}: {len(O)} tensors, step {ometa.get('step')}")

    probe_path = os.path.join(run_dir, "forward_check.json")
    if os.path.exists(probe_path) and not problems:
        with open(probe_path) as f:
            probe = json.load(f)
        B, T = probe["batch"], probe["seq"]
        x = np.asarray(probe["inputs"], dtype=np.int64).reshape(B, T)
        y = np.asarray(probe["targets"], dtype=np.int64).reshape(B, T)
        logits, loss = numpy_forward(P, cfg, x, y)
        compare("numpy float64", logits, loss, probe, problems)
        if use_torch:
            try:
                import torch  # noqa: F401
            except ImportError:
                print("  torch is not importable: PyTorch load_state_dict check skipped")
            else:
                torch_check(P, cfg, x, y, probe, problems)

    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print("OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
