"""`l2r demo`: explain and score the bundled sample photos with the demo CNN, offline."""
from __future__ import annotations

import argparse
from pathlib import Path

from l2r_core.atomic import atomic_save_png
from l2r_core.images import list_images, load_image
from l2r_core.pipeline import explain, prepare

from .common import load_from_args
from .evaluate import evaluate, print_table, summarize


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="explain and score the bundled sample photos (offline)")
    p.add_argument("--model", default="demo-cnn", choices=["demo-cnn", "demo-vit"])
    p.add_argument("--out", default="l2r-demo-out", help="folder for the overlays")
    p.add_argument("--protocol", default="aha")


def run_demo(args: argparse.Namespace) -> int:
    from l2r_resources import resource_path

    args.weights = args.class_names = args.explainer = None
    args.device = "auto"
    loaded = load_from_args(args)
    samples = resource_path("samples" if args.model == "demo-cnn" else "samples_fashion")
    images = list_images(samples)
    methods = (["l2r"] if loaded.explainer is not None else []) + ["gradcam"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in images:
        prep = prepare(loaded.model, load_image(path))
        opts = {"explainer": loaded.explainer} if methods[0] == "l2r" else {}
        exp = explain(loaded.model, prep, methods[0], **opts)
        atomic_save_png(out / f"{path.stem}_{methods[0]}.png", exp.overlay())
    rows = evaluate(loaded, images, methods, args.protocol)
    print_table(summarize(rows, methods), args.protocol)
    print(f"overlays written to {out}/")
    return 0
