"""Deletion+insertion (21 points each, `aha`) for one 224x224 image vs the 42 forward passes alone.

Run: .venv/bin/python benchmarks/bench_metrics.py [--repeats 5] [--model demo-cnn]
Both are timed side by side in the same process, alternating, with the same batch size,
and the ratio of medians is printed (target: at most 1.15).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from l2r_core.metrics.hard import deletion_insertion
from l2r_core.models.loading import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="demo-cnn")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=21)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    h, w = model.preprocessing.input_size
    x = torch.randn(1, 3, h, w)
    saliency = torch.rand(1, h, w)
    batch = torch.randn(42, 3, h, w)

    def forwards() -> None:
        with torch.no_grad():
            for i in range(0, 42, args.batch):
                model.logits(batch[i : i + args.batch])

    def metric() -> None:
        deletion_insertion(model, x, saliency, [0], protocol="aha", batch_limit=args.batch)

    forwards(), metric()  # warm-up
    t_fwd, t_met = [], []
    for _ in range(args.repeats):
        for fn, acc in ((forwards, t_fwd), (metric, t_met)):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    f, m = statistics.median(t_fwd), statistics.median(t_met)
    print(f"model={args.model} threads={args.threads} batch={args.batch} repeats={args.repeats}")
    print(f"42 forward passes: median {f:.3f}s; deletion+insertion: median {m:.3f}s; ratio {m / f:.3f}")


if __name__ == "__main__":
    main()
