"""Rebuild the bundled demo-vit explainer: `python -m l2r_training.recipes.demo_vit_explainer --gpu --install`.

Trains on images drawn (seed 0) from the Fashion-MNIST TRAINING split (Debian package
dataset-fashion-mnist), written as an ImageFolder tree so the labels give the second target.
Both recipes use 20,000 images. Without `--gpu`, the CPU recipe: one hour (`--max-time 60m`, the
schedule fitted to it), batch 16, grid 7-20, one target per image. `--gpu`: 400 steps, batch 32,
grid 7-28, lr 3e-4, on CUDA (about 4 minutes on one H100). Flags after these override them. `--install` copies the finished explainer (or,
if the run stopped early, the checkpoint of `--install-step`) into resources/demo_vit_explainer.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

# The CPU recipe: an hour of one CPU thread (`--threads 1`), one target per image, grid 7-20.
FLAGS = ["--max-time", "60m", "--steps", "0", "--batch-size", "16", "--grid-max", "20", "--lr", "3e-4",
         "--val-every", "500", "--checkpoint-every", "500", "--augment", "light"]
# --gpu: the paper's batch and grid range, more images. The bundled explainer: 400 steps on one H100
# (0.58 s/step, 246 s with set-up; scripts/gpu_train_demos.sh).
GPU_FLAGS = ["--steps", "400", "--batch-size", "32", "--grid-max", "28", "--lr", "3e-4", "--val-every", "500",
             "--checkpoint-every", "500", "--augment", "light", "--device", "cuda", "--loader-threads", "8"]
GPU_IMAGES = 20000
FOLDER_NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def write_images(folder: Path, count: int = 3000, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image

    from ..fashion_mnist import load_split

    images, labels = load_split("train")
    for i in np.random.default_rng(seed).choice(len(images), count, replace=False):
        sub = folder / FOLDER_NAMES[int(labels[i])]
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(sub / f"{i}.png")


def main(argv: list[str] | None = None) -> int:
    from l2r_resources import resource_path

    from ..cli import main as cli_main

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--install", action="store_true", help="copy the result into resources/demo_vit_explainer")
    ap.add_argument("--install-step", type=int, default=100, help="checkpoint to install if the run stops early")
    ap.add_argument("--images", type=int, default=None,
                    help=f"training-split images to write (default {GPU_IMAGES})")
    ap.add_argument("--gpu", action="store_true", help="the GPU recipe (batch 32, grid 7-28, CUDA)")
    args, extra = ap.parse_known_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="l2r-demo-vit-"))
    write_images(work / "images", count=args.images or GPU_IMAGES)
    recipe = GPU_FLAGS if args.gpu else FLAGS
    code = cli_main(["train", str(work / "images"), "--model", "demo-vit", "--out", str(work / "run"),
                     "--overwrite", *recipe, *extra])
    if args.install:
        source = work / "run" / "explainer"
        if code != 0:
            source = work / "run" / "checkpoints" / f"step_{args.install_step:08d}"
        dest = resource_path("demo_vit_explainer")
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for name in ("explainer.json", "explainer.safetensors"):
            shutil.copy(source / name, dest / name)
        shutil.copy(work / "run" / "config.json", dest / "training_config.json")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
