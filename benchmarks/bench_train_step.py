"""Cost of one explainer training step, split by stage, against a plain forward+backward of the target.

For each model and each recipe (the old one, the new default and each lever alone), this times
whole training steps (the real ``train_step``) and, interleaved with them in the same run, a plain
training step of the target itself on the same batch (forward, cross-entropy, backward with
parameter gradients). The ratio of the two is the figure to drive down. One extra step under
``torch.profiler`` splits the time into explainer features, decoder, ranking, target forward passes,
backward (of which the ranking's own backward is shown apart) and optimiser: the ``l2r.*`` ranges in
``training/loop.py``, ``core/metrics/soft.py`` and ``core/ranking/sinkhorn.py``.

    python benchmarks/bench_train_step.py --models timm-vit,demo-vit,demo-cnn --batch 32 --threads 1

``timm-vit`` is a 6-block ViT-tiny on 32-px greyscale images (patch 4), with random weights.
The ranking grid is fixed (``--grid``, default 20: 20^4 is about the mean of G^4 over the default
7-28 range, and the full ranking's cost grows as G^4), so every step costs what an average step
does. Quote the ratios, not the absolute times: the machine may be shared.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

OLD = {"loss.percentile_samples": 0, "targets": "both", "grad_checkpointing": "on", "amp": "off"}
VARIANTS: dict[str, dict[str, Any]] = {
    "old": OLD,
    "old+no-ckpt": dict(OLD, grad_checkpointing="off"),
    "old+samples4": dict(OLD, **{"loss.percentile_samples": 4}),
    "old+one-target": dict(OLD, targets="one"),
    "old+bf16": dict(OLD, amp="bf16"),
    "default": {},
    "default+both-targets": {"targets": "both"},
    "default+bf16": {"amp": "bf16"},
    "default+iters15": {"loss.n_iters": 15},
    "default+compile": {"compile": True},
    "default+tb1024": {"target_batch": 1024},  # fewer, larger target calls (GPUs)
    "default+160px": {"image_size": 160},  # CNNs only: below the model's 224-px input
    "default+128px": {"image_size": 128},
}


def timm_vit_weights(folder: Path) -> Path:
    """A 6-block ViT-tiny for 32-px greyscale images with random weights, and its sidecar."""
    import timm
    from safetensors.torch import save_file

    args = {"depth": 6, "img_size": 32, "patch_size": 4, "in_chans": 1, "num_classes": 10}
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, **args)
    path = folder / "vit6.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps({"model_args": args}), encoding="utf-8")
    return path


def write_images(folder: Path, n: int, size: int, grey: bool) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = (size, size) if grey else (size, size, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def model_spec(name: str, work: Path) -> tuple[str, str | None]:
    if name == "timm-vit":
        return "timm:vit_tiny_patch16_224", str(timm_vit_weights(work))
    return name, None


def plain_step_seconds(model: Any, x: torch.Tensor, sync: Any) -> float:
    """One ordinary training step of the target: forward, cross-entropy, backward (parameters too)."""
    module = model.module
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(True)
    try:
        sync()
        t0 = time.perf_counter()
        logits = module(x)
        torch.nn.functional.cross_entropy(logits, logits.argmax(-1)).backward()
        sync()
        dt = time.perf_counter() - t0
    finally:
        for p in params:
            p.grad = None
            p.requires_grad_(False)
    return dt


def profile_sections(s: Any, step: int) -> dict[str, float]:
    from torch.profiler import ProfilerActivity, profile

    from l2r_training.loop import train_step

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_step(s, step)
    out = {}
    for ev in prof.key_averages():
        if ev.key.startswith("l2r."):
            out[ev.key[4:]] = ev.cpu_time_total / 1e6
    return out


def measure(model_name: str, variant: str, a: argparse.Namespace, work: Path) -> dict[str, Any] | None:
    from l2r_core.models.loading import load_model
    from l2r_training.config import resolve_config
    from l2r_training.loop import train_step
    from l2r_training.session import prepare

    changes = VARIANTS[variant]
    if "image_size" in changes and model_name != "demo-cnn":
        return None
    spec, weights = model_spec(model_name, work)
    model = load_model(spec, weights=weights)
    pre = model.preprocessing
    images = work / f"images-{model_name}"
    if not images.is_dir():
        write_images(images, max(2 * a.batch, 16), max(pre.input_size), pre.channels == 1)
    overrides = {"data": str(images), "model": spec, "weights": weights, "out": str(work / f"run-{model_name}-{variant}"),
                 "batch_size": a.batch, "steps": 1000, "val_every": 0, "checkpoint_every": 0, "val_fraction": 0.0,
                 "device": a.device, "threads": a.threads, "loader_threads": 1, "target_batch": a.target_batch,
                 "loss.grid_min": a.grid, "loss.grid_max": a.grid}
    overrides.update(changes)
    cfg = resolve_config(None, overrides)
    s = prepare(cfg, model, None, None, overwrite=True)
    try:
        x = s.loader.get(0)[0].to(s.device)
        sync = torch.cuda.synchronize if s.device.type == "cuda" else (lambda: None)
        train_step(s, 0)  # warm-up: allocator, oneDNN kernels
        plain_step_seconds(s.model, x, sync)
        steps, plains = [], []
        for i in range(a.steps):  # interleaved, so load changes hit both alike
            sync()
            t0 = time.perf_counter()
            train_step(s, i + 1)
            sync()
            steps.append(time.perf_counter() - t0)
            plains.append(plain_step_seconds(s.model, x, sync))
        sections = profile_sections(s, a.steps + 1) if a.sections else {}
    finally:
        s.close()
    step, plain = statistics.median(steps), statistics.median(plains)
    return {"model": model_name, "variant": variant, "batch": a.batch, "step_s": step, "plain_s": plain,
            "ratio": step / plain, "checkpointing": s.checkpointing, "bf16": s.bf16, "sections_s": sections}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="timm-vit,demo-vit,demo-cnn")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant (median reported)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--target-batch", type=int, default=64)
    ap.add_argument("--grid", type=int, default=20, help="ranking grid G of every step (default 20)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-sections", dest="sections", action="store_false", help="skip the profiled step")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="l2r-bench-step-") as tmp:
        for m in a.models.split(","):
            for v in a.variants.split(","):
                row = measure(m, v, a, Path(tmp))
                if row is None:
                    continue
                rows.append(row)
                secs = "  ".join(f"{k} {t:.2f}" for k, t in sorted(row["sections_s"].items()))
                print(f"{m:9s} {v:20s} batch {a.batch:4d} target-batch {a.target_batch:5d}  "
                      f"{1 / row['step_s']:6.2f} steps/s  step {row['step_s']:7.2f} s  plain fwd+bwd {row['plain_s']:.3f} s  "
                      f"ratio {row['ratio']:6.1f}x  ckpt={row['checkpointing']} bf16={row['bf16']}  [{secs}]",
                      flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
