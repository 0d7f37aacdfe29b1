"""`l2r explain IMAGE... --out DIR`: a raw map (.npy) and an overlay (.png) per image."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from l2r_core.images import load_image
from l2r_core.pipeline import explain, prepare, top_predictions

from l2r_core.atomic import atomic_save_npy, atomic_save_png
from .common import add_image_args, add_model_args, load_from_args, method_options


def add_explain_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="write an attribution map and overlay for each image")
    p.add_argument("images", nargs="+", help="image files")
    add_model_args(p)
    add_image_args(p)
    p.add_argument("--method", default="l2r", help="registered method name (l2r, l2r-refine, gradcam, ig, rise, rollout, gae)")
    p.add_argument("--target", type=int, help="class index to explain (default: the top-1 prediction)")
    p.add_argument("--refine-steps", type=int, help="refinement steps for l2r-refine (default 10)")
    p.add_argument("--out", required=True, help="output folder")


def run_explain(args: argparse.Namespace) -> int:
    loaded = load_from_args(args, need_explainer=args.method.startswith("l2r"))
    opts = method_options(args.method, loaded, args.refine_steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        prep = prepare(loaded.model, load_image(path, max_pixels=args.max_pixels))
        top = top_predictions(loaded.model, prep.x, 1)[0]
        exp = explain(loaded.model, prep, args.method, args.target, **opts)
        stem = Path(path).stem
        atomic_save_npy(out / f"{stem}.npy", exp.map.astype(np.float32))
        atomic_save_png(out / f"{stem}.png", exp.overlay())
        print(f"{path}: {top.name} ({top.probability:.2f}) -> {out / (stem + '.npy')} [{exp.seconds:.2f}s]")
    return 0
