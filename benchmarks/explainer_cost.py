"""Cost of one explainer call vs one target forward pass (CPU, one thread by default).

Usage: python benchmarks/explainer_cost.py [--model demo-cnn] [--threads 1] [--repeats 20] [--paper]
       [--device cuda] [--batch 32]
Prints the median time of a plain target forward, of one ``explain`` call, and their ratio.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from l2r_core.explainer import ExplainerConfig, build_explainer
from l2r_core.models import load_model


def _median_time(fn, repeats: int, sync=lambda: None) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()  # CUDA calls return before the GPU is done
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="demo-cnn")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--paper", action="store_true", help="paper widths 256/128/32")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model, device=args.device)
    cfg = ExplainerConfig.paper() if args.paper else ExplainerConfig()
    ex = build_explainer(model, cfg).to(args.device).eval()
    h, w = model.preprocessing.input_size
    x = torch.randn(args.batch, model.preprocessing.channels, h, w, device=args.device)
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        # interleave the two measurements so machine noise hits both alike
        fwd, exp = [], []
        for _ in range(3):
            fwd.append(_median_time(lambda: model.logits(x), args.repeats, sync))
            exp.append(_median_time(lambda: ex.explain(x), args.repeats, sync))
    f, e = min(fwd), min(exp)
    n = sum(p.numel() for p in ex.trainable_parameters())
    print(f"model={args.model} input={args.batch}x{h}x{w} device={args.device} threads={args.threads} "
          f"stage/fusion/head={cfg.stage_channels}/{cfg.fusion_channels}/{cfg.head_channels} decoder_params={n}")
    print(f"forward {f*1e3:.1f} ms | explain {e*1e3:.1f} ms | ratio {e/f:.2f}")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc_fwd:
        model.logits(x)
    with torch.no_grad(), FlopCounterMode(display=False) as fc_exp:
        ex.explain(x)
    a, b = fc_fwd.get_total_flops(), fc_exp.get_total_flops()
    print(f"FLOPs: forward {a/1e9:.3f} G | explain {b/1e9:.3f} G | ratio {b/a:.2f}")


if __name__ == "__main__":
    main()
