"""Time per 224x224 image of every attribution method, as a multiple of one forward pass.

Run: .venv/bin/python benchmarks/bench_methods.py [--repeats 3] [--threads 1] [--batch-limit 16]
Models: the demo CNN (EfficientNet-Lite0) and a randomly initialised timm vit_tiny_patch16_224.
One forward pass (batch 1, no gradients) is timed in the same process right before each method
(the ratio uses that neighbouring time; the table's forward row is their median); every method runs with
its registered defaults (IG 32 steps, RISE 2000 masks) unless overridden. Medians of the repeats;
methods slower than --slow-s seconds run once. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import torch

from l2r_core.attribution import attribute, available_methods
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.loading import load_model
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.models.timm_adapter import TimmAdapter


def vit_tiny() -> TimmAdapter:
    import timm

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    names = [f"class {i}" for i in range(model.num_classes)]
    return TimmAdapter(model, "vit_tiny_patch16_224", Preprocessing(), names, "random")


def timed(fn: Callable[[], Any], repeats: int, slow_s: float) -> float:
    """Median seconds of ``repeats`` calls; a call slower than ``slow_s`` is not repeated."""
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if times[-1] > slow_s:
            break
    return statistics.median(times)


def bench_model(model: ModelAdapter, args: argparse.Namespace) -> dict[str, float]:
    h, w = model.preprocessing.input_size
    x = torch.randn(1, 3, h, w)
    opts = {"ig": {"steps": args.ig_steps}, "rise": {"n_masks": args.rise_masks}}

    def forward() -> None:
        with torch.no_grad():
            model.logits(x)

    forward()  # warm-up
    # The forward pass is re-timed just before each method and each ratio uses its own
    # neighbour, so load changes on a shared machine skew the ratios less.
    out: dict[str, float] = {}
    fwd: list[float] = []
    for info in available_methods(model):
        if info.needs_explainer:
            continue
        kw = opts.get(info.name, {})
        fwd.append(timed(forward, max(5, args.repeats), args.slow_s))
        t = timed(lambda: attribute(info.name, model, x, 0, batch_limit=args.batch_limit, **kw),
                  args.repeats, args.slow_s)
        out[info.name], out[info.name + "/ratio"] = t, t / fwd[-1]
        print(f"  {model.name} {info.name}: {t:.3f}s ({t / fwd[-1]:.1f} x forward {fwd[-1]:.4f}s)", flush=True)
    out["forward"] = statistics.median(fwd)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-limit", type=int, default=16)
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--rise-masks", type=int, default=2000)
    ap.add_argument("--slow-s", type=float, default=20.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {"demo-cnn": bench_model(load_model("demo-cnn"), args),
               "vit_tiny_patch16_224": bench_model(vit_tiny(), args)}
    names = list(dict.fromkeys(n for r in results.values() for n in r if n != "forward" and "/" not in n))
    print(f"\nthreads={args.threads} batch_limit={args.batch_limit} ig_steps={args.ig_steps} "
          f"rise_masks={args.rise_masks} repeats={args.repeats} (median)\n")
    cols = list(results)
    print("| method | " + " | ".join(f"{c} s/image | x forward" for c in cols) + " |")
    print("|---|" + "---|---|" * len(cols))
    print("| forward pass | " + " | ".join(f"{results[c]['forward']:.4f} | 1.0" for c in cols) + " |")
    for n in names:
        cells = []
        for c in cols:
            r = results[c]
            cells.append(f"{r[n]:.3f} | {r[n + '/ratio']:.1f}" if n in r else "n/a | n/a")
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
