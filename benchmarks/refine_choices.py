"""Which refinement set-up improves the HARD deletion/insertion metric ('aha' protocol)?

Refines starting maps (the bundled explainer's by default) of a folder of images, per variant,
and prints the mean hard deletion AUC (lower is better), insertion AUC (higher is better) and
ins - del before and after. Choose settings on TRAINING images, never on the held-out ones:

    python benchmarks/refine_choices.py CORPUS/train/photos --model demo-cnn --limit 30
    python benchmarks/refine_choices.py FM_TRAIN --model demo-vit --limit 60

(FM_TRAIN: ``python -m l2r_training.fashion_mnist train 3000 FM_TRAIN``.) Temperatures and step
sizes are in the units of the ranked map, whose standard deviation is ``score_scale`` (0.25).
"""
from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace
from pathlib import Path

import torch

from l2r_core.attribution import attribute
from l2r_core.explainer import load_explainer
from l2r_core.explainer.refine import RefineSettings, default_loss_config, refine_map
from l2r_core.images import list_images, load_image
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.metrics.soft import SoftLossConfig
from l2r_core.models import load_model
from l2r_core.models.demo import demo_explainer_dir

BASE = RefineSettings()
SINKHORN = RefineSettings(relaxation="sinkhorn")
MEAN = default_loss_config()
PAPER = SoftLossConfig(percentile_samples=4)  # black, mean and blur references
VARIANTS: dict[str, tuple[RefineSettings, float, SoftLossConfig]] = {
    "threshold (default)": (BASE, 0.05, MEAN),
    "threshold-T0.0125-lr0.025": (replace(BASE, temperature=0.0125), 0.025, MEAN),
    "threshold-T0.005-lr0.025": (replace(BASE, temperature=0.005), 0.025, MEAN),
    "threshold-lr0.025": (BASE, 0.025, MEAN),
    "threshold-4points": (replace(BASE, points_per_step=4), 0.05, MEAN),
    "threshold-mixed-refs": (BASE, 0.05, PAPER),
    "sinkhorn-residual28": (SINKHORN, 0.05, MEAN),
    "sinkhorn-residual28-mixed-refs": (SINKHORN, 0.05, PAPER),
    "sinkhorn-residual28-nonoise": (replace(SINKHORN, noise=False), 0.05, MEAN),
    "sinkhorn-fullmap": (replace(SINKHORN, residual_grid=None), 0.05, MEAN),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", type=Path, help="folder of training images (searched recursively)")
    ap.add_argument("--model", default="demo-cnn", choices=("demo-cnn", "demo-vit"))
    ap.add_argument("--limit", type=int, default=30, help="images used, drawn with seed 0")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--init", default="l2r", help="starting maps: l2r (the bundled explainer) or a method")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    files = sorted(list_images(args.images, recursive=True))
    random.Random(0).shuffle(files)
    files = files[: args.limit]
    x = torch.stack([model.preprocessing(load_image(p)) for p in files])
    with torch.no_grad():
        targets = model.logits(x).argmax(-1)
    options = {}
    if args.init == "l2r":
        options["explainer"] = load_explainer(demo_explainer_dir(args.model), model)
    init = attribute(args.init, model, x, targets, **options)
    base = deletion_insertion(model, x, init, targets, protocol="aha")
    print(f"{len(files)} images, init={args.init}: del {base.deletion_auc.mean():.4f} "
          f"ins {base.insertion_auc.mean():.4f} ins-del {(base.insertion_auc - base.deletion_auc).mean():.4f}")
    for name in args.variants.split(","):
        settings, lr, cfg = VARIANTS[name]
        t0 = time.perf_counter()
        maps = torch.stack([refine_map(model, x[i:i + 1], int(targets[i]), init[i], steps=args.steps, lr=lr,
                                       config=cfg, settings=settings, seed=i) for i in range(len(files))])
        r = deletion_insertion(model, x, maps, targets, protocol="aha")
        dt = (time.perf_counter() - t0) / len(files)
        gain = (r.insertion_auc - r.deletion_auc) - (base.insertion_auc - base.deletion_auc)
        print(f"{name:32s} del {r.deletion_auc.mean():.4f} ins {r.insertion_auc.mean():.4f} "
              f"ins-del {(r.insertion_auc - r.deletion_auc).mean():.4f} mean gain {float(gain.mean()):.4f} "
              f"{dt:.1f}s/img", flush=True)


if __name__ == "__main__":
    main()
