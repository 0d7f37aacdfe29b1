"""Do the maps depend on the class they explain? A class-sensitivity check for l2r and Grad-CAM.

For each image: c is the top class and c' a class outside the top 5 (the 6th-ranked one, or the
lowest for models with fewer classes). Both maps are scored on the SAME score, c's probability,
under the hard deletion curve of the chosen protocol: the map explained for c should delete c's
probability faster (a lower deletion AUC) than the map explained for c'. Reported per method: the
share of images where that holds, the mean gap AUC(c') - AUC(c) (higher is better), and the RMS
difference between the two maps after each is standardised.

    python benchmarks/class_sensitivity.py IMAGES --model demo-cnn [--explainer DIR] [--methods l2r,l2r-refine,gradcam]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from l2r_core.attribution import attribute
from l2r_core.explainer import load_explainer
from l2r_core.images import list_images, load_image
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.models import load_model
from l2r_core.models.demo import demo_explainer_dir


def contrast_class(logits: torch.Tensor) -> torch.Tensor:
    """Per row, the class ranked 6th (outside the top 5), or the last-ranked with <= 5 classes."""
    order = logits.argsort(-1, descending=True)
    return order[:, min(5, logits.shape[-1] - 1)]


def standardised(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    return ((flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-12)).view_as(maps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", type=Path)
    ap.add_argument("--model", default="demo-cnn")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--explainer", default=None, help="explainer folder (default: the bundled one of a demo model)")
    ap.add_argument("--methods", default="l2r,gradcam")
    ap.add_argument("--protocol", default="aha")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_model(a.model, weights=a.weights)
    methods = a.methods.split(",")
    explainer = None
    if any(m.startswith("l2r") for m in methods):
        path = a.explainer or demo_explainer_dir(a.model)
        explainer = load_explainer(path, model)
    files = list_images(a.images, recursive=True)[: a.limit or None]
    x = torch.stack([model.preprocessing(load_image(p)) for p in files])
    with torch.no_grad():
        logits = model.logits(x)
    top, other = logits.argmax(-1), contrast_class(logits)
    print(f"{a.model}: {len(files)} images, c = top class, c' = the class ranked 6th; "
          f"both maps scored on c's probability ({a.protocol} deletion)")
    print(f"{'method':10s} {'c beats c-prime':>16s} {'mean gap':>9s} {'map RMS diff':>13s}")
    for m in methods:
        with torch.no_grad():
            if m == "l2r":
                assert explainer is not None
                map_c, map_o = explainer.explain(x, top)[0].float(), explainer.explain(x, other)[0].float()
        if m != "l2r":
            opts = {"explainer": explainer} if m == "l2r-refine" else {}
            map_c, map_o = attribute(m, model, x, top, **opts), attribute(m, model, x, other, **opts)
        d_c = deletion_insertion(model, x, map_c, top, protocol=a.protocol).deletion_auc
        d_o = deletion_insertion(model, x, map_o, top, protocol=a.protocol).deletion_auc
        gap = torch.as_tensor(d_o - d_c)
        rms = (standardised(map_c) - standardised(map_o)).pow(2).mean((1, 2)).sqrt()
        print(f"{m:10s} {float((gap > 0).float().mean()):16.0%} {float(gap.mean()):9.4f} {float(rms.mean()):13.3f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
