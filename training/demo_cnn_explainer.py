"""Rebuild the bundled demo-cnn explainer: `python -m l2r_training.demo_cnn_explainer --gpu --install`.

Training photos are CC0/public-domain images that ship with scikit-image (the `dev` extra);
the four sample photos in resources/samples are held out for evaluation. `--gpu` (the bundled
explainer): 224 px, batch 16, 16 percentiles, grid 7-28, lr 3e-4, 340 steps, heavy augmentation,
on CUDA (about 4 minutes on one H100). Without it, a recipe small enough for a 2-core CPU (about
25 minutes): 112 px, batch 2, 8 percentiles, grid 7-14, lr 1e-3, 300 steps. Flags after these
override them.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

# skimage.data names, licences as stated in skimage/data/_fetchers.py
TRAIN_PHOTOS = {
    "camera": "CC0 (Lav Varshney)", "coins": "no known copyright restrictions", "clock": "public domain",
    "hubble_deep_field": "public domain (NASA)", "brick": "CC0 (CC0Textures)", "grass": "CC0 (CC0Textures)",
    "gravel": "CC0 (CC0Textures)", "horse": "CC0", "retina": "CC0", "cell": "CC0",
    "immunohistochemistry": "no known copyright restrictions", "microaneurysms": "CC0",
}
FLAGS = ["--steps", "300", "--batch-size", "2", "--image-size", "112", "--percentiles", "8", "--grid-max", "14",
         "--lr", "1e-3", "--val-every", "100", "--checkpoint-every", "25", "--augment", "heavy"]
# --gpu: the model's own 224 px, the paper's 16 percentiles, grid 7-28 and learning rate. The bundled
# explainer: 340 steps on one H100 (0.71 s/step, 257 s with set-up; scripts/gpu_train_demos.sh).
GPU_FLAGS = ["--steps", "340", "--batch-size", "16", "--image-size", "224", "--percentiles", "16", "--grid-max", "28",
             "--lr", "3e-4", "--val-every", "200", "--checkpoint-every", "200", "--device", "cuda",
             "--loader-threads", "8"]


def write_photos(folder: Path) -> None:
    import numpy as np
    import skimage.data as skdata
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in TRAIN_PHOTOS:
        arr = getattr(skdata, name)()
        if arr.dtype != np.uint8:
            arr = (arr / arr.max() * 255).astype(np.uint8)
        Image.fromarray(arr).convert("RGB").save(folder / f"{name}.png")


def main(argv: list[str] | None = None) -> int:
    from l2r_resources import resource_path

    from .cli import main as cli_main

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--install", action="store_true", help="copy the result into resources/demo_cnn_explainer")
    ap.add_argument("--gpu", action="store_true", help="the GPU recipe (224 px, batch 16, CUDA)")
    args, extra = ap.parse_known_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="l2r-demo-cnn-"))
    write_photos(work / "photos")
    recipe = FLAGS + GPU_FLAGS if args.gpu else FLAGS  # later flags win
    code = cli_main(["train", str(work / "photos"), "--model", "demo-cnn", "--out", str(work / "run"),
                     "--overwrite", *recipe, *extra])
    if code == 0 and args.install:
        dest = resource_path("demo_cnn_explainer")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(work / "run" / "explainer", dest)
        shutil.copy(work / "run" / "config.json", dest / "training_config.json")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
