"""Which refinement set-up improves the HARD deletion/insertion metric ('aha' protocol)?

Runs refinement variants from Grad-CAM starting maps on the demo CNN and the sample photos and
prints the mean hard deletion AUC (lower is better), insertion AUC (higher is better) and their
difference ins - del (higher is better) before and after. CPU: a few minutes per variant.

Usage: python benchmarks/refine_choices.py [--steps 10] [--threads 2] [--size 224] [--variants a,b]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from l2r_core.attribution import attribute
from l2r_core.explainer.refine import RefineSettings, refine_map
from l2r_core.images import load_image
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.metrics.soft import SoftLossConfig
from l2r_core.models import load_model

BASE = RefineSettings()
VARIANTS: dict[str, tuple[RefineSettings, float, SoftLossConfig]] = {
    "residual28-randgrid": (BASE, 0.05, SoftLossConfig()),
    "residual28-grid14": (replace(BASE, grid=14), 0.05, SoftLossConfig()),
    "residual14-grid14": (replace(BASE, residual_grid=14, grid=14), 0.05, SoftLossConfig()),
    "fullmap-randgrid": (replace(BASE, residual_grid=None), 0.05, SoftLossConfig()),
    "residual28-nonoise": (replace(BASE, noise=False), 0.05, SoftLossConfig()),
    "residual28-scale1": (replace(BASE, score_scale=1.0), 0.2, SoftLossConfig()),
    "residual28-meanref": (BASE, 0.05, SoftLossConfig(references=("mean",))),
    "residual28-lr0.1": (BASE, 0.1, SoftLossConfig()),
    "residual28-lr0.02": (BASE, 0.02, SoftLossConfig()),
    "residual14-randgrid": (replace(BASE, residual_grid=14), 0.05, SoftLossConfig()),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--init", default="gradcam")
    ap.add_argument("--size", type=int, default=224, help="resize inputs (e.g. 112 for a quick run)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from l2r_resources import resource_path

    model = load_model("demo-cnn")
    files = sorted(p for p in resource_path("samples").iterdir() if p.suffix == ".jpg")
    x = torch.stack([model.preprocessing(load_image(p)) for p in files])
    if args.size != x.shape[-1]:  # the demo CNN is fully convolutional: smaller inputs are cheaper
        x = torch.nn.functional.interpolate(x, size=(args.size, args.size), mode="bilinear", antialias=True)
    with torch.no_grad():
        targets = model.logits(x).argmax(-1)
    init = attribute(args.init, model, x, targets)
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
        print(f"{name:22s} del {r.deletion_auc.mean():.4f} ins {r.insertion_auc.mean():.4f} "
              f"ins-del {(r.insertion_auc - r.deletion_auc).mean():.4f} gain/img {[round(float(g), 3) for g in gain]} "
              f"{dt:.1f}s/img", flush=True)


if __name__ == "__main__":
    main()
