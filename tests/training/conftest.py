"""Tiny fixtures for training tests: a random-weight timm resnet10t (5 classes) and 40x40 PNGs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

CLASSES = ["cat", "dog", "fox", "owl", "yak"]


def make_images(root: Path, n: int = 8, classes: tuple[str, ...] = ("cat", "dog"), seed: int = 0) -> Path:
    """n random 40x40 PNGs split over class subfolders (ImageFolder layout)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / classes[i % len(classes)] if classes else root
        folder.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=5)
    path = tmp_path_factory.mktemp("weights") / "resnet10t.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    names = path.with_name("names.txt")
    names.write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_model(tiny_weights: Path) -> Any:
    from l2r_core.models.loading import load_model

    return load_model("timm:resnet10t", weights=tiny_weights, class_names=tiny_weights.with_name("names.txt"))


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    return make_images(tmp_path / "images")


def tiny_config(data: Path, out: Path, **changes: Any) -> Any:
    """A config that trains in well under a second per step on one CPU thread."""
    from l2r_training.config import TrainConfig, resolve_config

    base: dict[str, Any] = {
        "data": str(data), "out": str(out), "model": "timm:resnet10t", "image_size": 32, "batch_size": 2,
        "steps": 4, "val_fraction": 0.25, "val_every": 0, "val_max_images": 2, "val_native": False,
        "checkpoint_every": 2,
        "loader_threads": 1, "device": "cpu", "threads": 1,
        "loss.grid_min": 3, "loss.grid_max": 6, "loss.n_iters": 5, "loss.n_percentiles": 4,
        "loss.blur_size": 5, "loss.blur_sigma": 2.0, "loss.peak_window": 3,
        "explainer": {"stage_channels": 8, "fusion_channels": 8, "head_channels": 4, "embed_dim": 8},
    }
    base.update(changes)
    cfg: TrainConfig = resolve_config(None, base)
    return cfg
