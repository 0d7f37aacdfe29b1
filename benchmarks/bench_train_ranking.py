"""Full N x N Gumbel-Sinkhorn ranking vs the rank-bucket form, for the same wall-clock budget.

Trains the demo CNN's explainer on a handful of scikit-image photos with each ranking form for
about ``--budget-s`` seconds (steps calibrated from a short run of each form), then scores the
initial and both trained explainers with HARD deletion/insertion AUCs (protocol "aha": 21 points,
mean-colour reference, softmax of the predicted class) on the same photos at the training size.

    python benchmarks/bench_train_ranking.py --budget-s 600 --out /tmp/bench_rank

It is a measurement, not a test: CPU-only runs take many minutes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")


def write_photos(folder: Path) -> Path:
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        img = getattr(skimage.data, name)()
        img = img[0] if isinstance(img, tuple) else img
        Image.fromarray(img).save(folder / f"{name}.png")
    return folder


def train_cmd(photos: Path, out: Path, ranking: str, steps: int, a: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "l2r_training.cli.train", "train", str(photos), "--model", "demo-cnn",
            "--out", str(out), "--overwrite", "--ranking", ranking, "--steps", str(steps),
            "--batch-size", str(a.batch_size), "--image-size", str(a.image_size), "--lr", str(a.lr),
            "--target-batch", "64", "--val-fraction", "0", "--checkpoint-every", "0", "--device", "cpu", "--quiet"]


def step_times(log: Path) -> list[float]:
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    t = [r["time"] for r in recs if r["event"] in ("start", "step")]
    return [b - a for a, b in zip(t[1:], t[2:])]  # the first step includes warm-up costs


def evaluate(photos: Path, explainer_dir: Path | None, image_size: int) -> dict[str, float]:
    from l2r_core.explainer import load_explainer
    from l2r_core.images import list_images, load_image
    from l2r_core.models.loading import load_model
    from l2r_training.config import TrainConfig
    from l2r_training.session import resize_preprocessing, make_explainer, validate

    model = load_model("demo-cnn")
    resize_preprocessing(model, image_size)
    if explainer_dir is None:  # the initial decoder both runs start from (seeded by --seed 0)
        torch.manual_seed(0)
        explainer = make_explainer(TrainConfig(), model)
    else:
        explainer = load_explainer(explainer_dir, model)
    x = torch.stack([model.preprocessing(load_image(p)) for p in list_images(photos)])
    return validate(explainer, model, x, TrainConfig(batch_size=8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_rank"))
    ap.add_argument("--budget-s", type=float, default=180.0)
    ap.add_argument("--calibrate-steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    a = ap.parse_args()
    photos = write_photos(a.out / "photos")
    results: dict[str, dict[str, float]] = {"initial": evaluate(photos, None, a.image_size)}
    print("initial", results["initial"], flush=True)
    for ranking in ("full", "buckets"):
        cal = a.out / f"cal_{ranking}"
        subprocess.run(train_cmd(photos, cal, ranking, a.calibrate_steps, a), check=True)
        per_step = float(np.mean(step_times(cal / "metrics.jsonl")))
        steps = max(1, int(a.budget_s / per_step))
        out = a.out / ranking
        t0 = time.perf_counter()
        subprocess.run(train_cmd(photos, out, ranking, steps, a), check=True)
        wall = time.perf_counter() - t0
        res = evaluate(photos, out / "explainer", a.image_size)
        res.update(steps=steps, calibrated_s_per_step=round(per_step, 2), wall_s=round(wall, 1),
                   train_s_per_step=round(float(np.mean(step_times(out / "metrics.jsonl"))), 2))
        results[ranking] = res
        print(ranking, res, flush=True)
    (a.out / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
