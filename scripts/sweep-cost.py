#!/usr/bin/env python3
"""What a FLOPs sweep (`lm experiment --flops C1,C2,...`) cost, per vocabulary, against its
largest budget and against training every budget as a separate run.

A sweep trains one trunk per vocabulary and one cooldown branch per budget, each branch starting
from the trunk's snapshot at its `decay_start` step. Its cost is the trunk's FLOPs plus each
branch's FLOPs past that snapshot; separate runs would cost the sum of the budgets. Everything
comes from the runs' state.json and config.json.

Usage: scripts/sweep-cost.py EXPERIMENT_DIR   (e.g. experiments/shakespeare)
"""
import json
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    runs = Path(sys.argv[1]) / "runs"
    if not runs.is_dir():
        print(f"{runs}: not a directory (is {sys.argv[1]} an `lm experiment` output?)", file=sys.stderr)
        return 1
    total_sweep = total_separate = 0.0
    # One trunk per vocabulary (runs/NAME) or per vocabulary and width (runs/NAME/hW).
    for run in sorted(b.parent for b in runs.rglob("branches") if b.is_dir()):
        try:
            trunk = json.loads((run / "state.json").read_text())
        except (OSError, ValueError) as e:
            print(f"{run}: cannot read the trunk's state.json ({e})", file=sys.stderr)
            return 1
        if not trunk.get("step"):
            print(f"{run}: the trunk has not trained yet", file=sys.stderr)
            return 1
        per_step = trunk["flops"] / trunk["step"]
        sweep, separate, largest = trunk["flops"], 0.0, 0.0
        for branch in sorted((run / "branches").iterdir()):
            try:
                state = json.loads((branch / "state.json").read_text())
                start = json.loads((branch / "config.json").read_text())["train"]["schedule"]["decay_start"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                print(f"{branch}: not a finished cooldown branch ({e}); left out", file=sys.stderr)
                continue
            sweep += state["flops"] - start * per_step
            separate += state["flops"]
            largest = max(largest, state["flops"])
        if not separate:
            print(f"{run}: no finished branch", file=sys.stderr)
            continue
        total_sweep += sweep
        total_separate += separate
        print(
            f"{run.relative_to(runs)}: sweep {sweep:.4g} FLOPs = {sweep / largest:.3f}x the largest budget, "
            f"{sweep / separate:.3f}x the budgets run separately ({separate:.4g})"
        )
    if total_separate:
        print(f"all: sweep {total_sweep:.4g} FLOPs, separately {total_separate:.4g}, ratio {total_sweep / total_separate:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
