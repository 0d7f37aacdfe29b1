"""Cost and effect of test-time refinement: 10 steps against a forward pass, and both hard curves.

For each set-up, refines the bundled explainer's maps of the sample photos (demo-cnn at 224 px, or
demo-vit on its Fashion-MNIST samples) and reports the time of one photo's refinement divided by
the time of one forward pass of the model on that photo, measured in the same run, with the mean
hard 'aha' deletion and insertion AUCs before and after.

    python benchmarks/refine_cost.py --model demo-cnn --threads 1 --variants old,default

``default`` is today's ``RefineSettings()`` (the pixel-level threshold relaxation, 2 curve points a
step, mean reference); ``paper`` is the training loss as first shipped (Gumbel-Sinkhorn on a coarse
grid, all 16 percentiles, the mix of black, mean and blur references); the others change one lever.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from l2r_core.explainer import load_explainer
from l2r_core.explainer.refine import RefineSettings, default_loss_config, refine_map
from l2r_core.images import list_images, load_image
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.models import load_model
from l2r_core.models.demo import demo_explainer_dir

SINKHORN = RefineSettings(relaxation="sinkhorn")
PAPER_REFERENCES = ("black", "mean", "blur")
VARIANTS = {  # name -> (settings, percentile samples, references)
    "paper": (SINKHORN, 0, PAPER_REFERENCES),
    "sinkhorn": (SINKHORN, None, None),
    "sinkhorn-samples2": (SINKHORN, 2, None),
    "default": (RefineSettings(), None, None),
    "threshold-4points": (RefineSettings(points_per_step=4), None, None),
    "threshold-bf16": (RefineSettings(amp="bf16"), None, None),
}


def forward_seconds(model, x: torch.Tensor, repeats: int = 5) -> float:
    with torch.no_grad():
        model.logits(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.logits(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="demo-cnn", choices=("demo-cnn", "demo-vit"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--images", type=int, default=4, help="sample photos used (the first N)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from l2r_resources import resource_path

    model = load_model(args.model)
    explainer = load_explainer(demo_explainer_dir(args.model), model)
    folder = resource_path("samples" if args.model == "demo-cnn" else "samples_fashion")
    files = list_images(folder)[: args.images]
    x = torch.stack([model.preprocessing(load_image(p)) for p in files])
    with torch.no_grad():
        init, logits = explainer.explain(x)
    targets = logits.argmax(-1)
    base = deletion_insertion(model, x, init.float(), targets, protocol="aha")
    print(f"{args.model}, {len(files)} images, l2r maps: deletion {base.deletion_auc.mean():.4f} "
          f"insertion {base.insertion_auc.mean():.4f}")
    for name in args.variants.split(","):
        settings, samples, references = VARIANTS[name]
        cfg = default_loss_config()
        if samples is not None:
            cfg = replace(cfg, percentile_samples=samples)
        if references is not None:
            cfg = replace(cfg, references=references)
        ratios, maps = [], []
        for i in range(len(files)):
            xi = x[i:i + 1]
            fwd = forward_seconds(model, xi)
            t0 = time.perf_counter()
            maps.append(refine_map(model, xi, int(targets[i]), init[i].float(), steps=args.steps, config=cfg,
                                   settings=settings, seed=i))
            ratios.append((time.perf_counter() - t0) / fwd)
        r = deletion_insertion(model, x, torch.stack(maps), targets, protocol="aha")
        print(f"{name:14s} {args.steps} steps = {statistics.median(ratios):6.0f}x a forward pass   "
              f"deletion {r.deletion_auc.mean():.4f} insertion {r.insertion_auc.mean():.4f}", flush=True)


if __name__ == "__main__":
    main()
