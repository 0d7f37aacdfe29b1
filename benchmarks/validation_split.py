"""Score methods on the validation split that `l2r train` holds out of a training folder.

Training validates at its `--image-size`; an explainer trained at a reduced size is used at the
model's own size. This scores the same validation photos at any size, next to the baselines, so
checkpoints can be compared at the size they will be used at (never choose on held-out photos).
Each top-level subfolder (the corpus's photos, cutouts, scenes) is also scored on its own: a
split can be dominated by a kind of image that the explainer is not used on. ``--split train``
scores the images trained on instead: against the held-out figures, it measures how much of a
lead the explainer owes to having seen the photos (``--only photos`` keeps one subfolder).

    python benchmarks/validation_split.py CORPUS/train --model demo-cnn --size 224 --methods gradcam,l2r
    python benchmarks/validation_split.py CORPUS/train --model demo-cnn --size 160 \
        --explainer W/run/checkpoints/step_00000300
    python benchmarks/validation_split.py CORPUS/train --size 224 --split train --only photos
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from l2r_core.attribution import attribute
from l2r_core.explainer import load_explainer
from l2r_core.images import load_image
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.models import load_model
from l2r_core.models.demo import demo_explainer_dir
from l2r_training.config import TrainConfig
from l2r_training.data import scan_folder, split_indices
from l2r_training.session import resize_preprocessing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the training folder (as given to l2r train)")
    ap.add_argument("--model", default="demo-cnn", choices=("demo-cnn", "demo-vit"))
    ap.add_argument("--size", type=int, default=None, help="square input size (default: the model's own)")
    ap.add_argument("--val-fraction", type=float, default=TrainConfig.val_fraction)
    ap.add_argument("--explainer", default=None, help="explainer folder or checkpoint (default: the bundled one)")
    ap.add_argument("--methods", default="gradcam,l2r")
    ap.add_argument("--protocol", default="aha")
    ap.add_argument("--split", choices=("val", "train"), default="val", help="which side of the split to score")
    ap.add_argument("--only", default=None, help="score only this top-level subfolder (e.g. photos)")
    ap.add_argument("--batch", type=int, default=32, help="images scored at once")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    resize_preprocessing(model, args.size)
    images = scan_folder(args.data, model.class_names)
    train, val = split_indices(images, args.val_fraction)
    top = [p.relative_to(images.root).parts[0] for p in images.paths]  # photos, cutouts, scenes
    chosen = [i for i in (val if args.split == "val" else train) if args.only in (None, top[i])]
    if not chosen:
        raise SystemExit(f"{args.data}: no {args.split} images" + (f" under {args.only}/" if args.only else ""))
    x = torch.stack([model.preprocessing(load_image(images.paths[i])) for i in chosen])
    with torch.no_grad():
        targets = model.logits(x).argmax(-1)
    explainer = load_explainer(args.explainer or demo_explainer_dir(args.model), model)
    print(f"{len(chosen)} {args.split} images of {args.data} at {tuple(x.shape[-2:])}, protocol {args.protocol}")
    folders = np.array([top[i] for i in chosen])
    kinds = sorted(set(folders)) if len(set(folders)) > 1 else []
    for method in args.methods.split(","):
        options = {"explainer": explainer} if method.startswith("l2r") else {}
        d, n = np.empty(len(chosen)), np.empty(len(chosen))
        for s in range(0, len(chosen), args.batch):
            xb, tb = x[s:s + args.batch], targets[s:s + args.batch]
            r = deletion_insertion(model, xb, attribute(method, model, xb, tb, **options), tb, protocol=args.protocol)
            d[s:s + len(xb)], n[s:s + len(xb)] = r.deletion_auc, r.insertion_auc
        parts = "".join(f"  | {k} ({int((folders == k).sum())}) {d[folders == k].mean():.4f}/"
                        f"{n[folders == k].mean():.4f}" for k in kinds)
        print(f"{method:12s} deletion {d.mean():.4f}  insertion {n.mean():.4f}{parts}", flush=True)


if __name__ == "__main__":
    main()
