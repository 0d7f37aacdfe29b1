"""Rebuild the bundled demo-cnn explainer: `python -m l2r_training.recipes.demo_cnn_explainer --corpus DIR --install`.

`--corpus DIR`: the offline natural-photo corpus of ``l2r_training.photo_corpus`` (built into DIR
first when DIR holds no manifest), trained on its ``train`` split with the ``photo`` augmentation
(cut-outs pasted onto scenes); its ``heldout`` photos and the four sample photos in
resources/samples are never trained on. Without it, the CC0/public-domain photos that ship with
scikit-image (the `dev` extra). The CPU recipe: 40 minutes (`--max-time`), 160 px (the explainer is
resolution-free and is used at 224), batch 8, grid 7-20, fine-tuned from the bundled explainer.
`--gpu`: 224 px, batch 16, grid 7-28, 340 steps on CUDA. Flags after these override them.
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
FLAGS = ["--max-time", "40m", "--steps", "0", "--batch-size", "8", "--image-size", "160", "--grid-max", "20",
         "--lr", "3e-4", "--val-every", "300", "--checkpoint-every", "300", "--augment", "heavy"]
# --gpu: the model's own 224 px, the paper's 16 percentiles, grid 7-28 and learning rate. The bundled
# explainer: 340 steps on one H100 (0.71 s/step, 257 s with set-up; scripts/gpu_train_demos.sh).
GPU_FLAGS = ["--steps", "340", "--batch-size", "16", "--image-size", "224", "--grid-max", "28",
             "--lr", "3e-4", "--val-every", "200", "--checkpoint-every", "200", "--augment", "heavy", "--device", "cuda",
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


def corpus_train_split(folder: Path) -> Path:
    """The corpus's training folder, building the corpus first when ``folder`` has none."""
    from ..photo_corpus import build_corpus, manifest_hash

    if not (folder / "manifest.json").is_file():
        build_corpus(folder)
    print(f"photo corpus {folder}: manifest sha256 {manifest_hash(folder)}", flush=True)
    return folder / "train"


def main(argv: list[str] | None = None) -> int:
    from l2r_resources import resource_path

    from ..cli import main as cli_main

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--install", action="store_true", help="copy the result into resources/demo_cnn_explainer")
    ap.add_argument("--gpu", action="store_true", help="the GPU recipe (224 px, batch 16, CUDA)")
    ap.add_argument("--corpus", type=Path, default=None,
                    help="photo corpus folder (l2r_training.photo_corpus; built there when missing)")
    ap.add_argument("--fresh", action="store_true", help="train a new decoder instead of fine-tuning the bundled one")
    args, extra = ap.parse_known_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="l2r-demo-cnn-"))
    if args.corpus is not None:
        images, augment = corpus_train_split(args.corpus), ["--augment", "photo"]
    else:
        images, augment = work / "photos", []
        write_photos(images)
    recipe = GPU_FLAGS if args.gpu else FLAGS
    init = [] if args.fresh else ["--init", str(resource_path("demo_cnn_explainer"))]
    code = cli_main(["train", str(images), "--model", "demo-cnn", "--out", str(work / "run"),
                     "--overwrite", *recipe, *init, *augment, *extra])
    if code == 0 and args.install:
        dest = resource_path("demo_cnn_explainer")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(work / "run" / "explainer", dest)
        shutil.copy(work / "run" / "config.json", dest / "training_config.json")
        if args.corpus is not None:  # which corpus, so the training data can be rebuilt and checked
            from ..photo_corpus import manifest_hash

            (dest / "corpus_manifest_sha256.txt").write_text(manifest_hash(args.corpus) + "\n", encoding="utf-8")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
