"""Shared helpers for the export tests: a tiny timm model saved to .safetensors, small images,
and comparisons of two export folders (timing columns and run records ignored)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from l2r_core.batch.table import TIME_COLUMNS

NUM_CLASSES = 5
SIDE = 32


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    """resnet10t, random weights, 5 classes, 32 px input (its model card sets the preprocessing)."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    m = timm.create_model("resnet10t", pretrained=False, num_classes=NUM_CLASSES)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, weights)
    weights.with_suffix(".json").write_text(json.dumps(
        {"input_size": SIDE, "crop_pct": SIDE / (SIDE + 4), "interpolation": "bilinear"}))
    return weights


def load_tiny(weights: Path):
    from l2r_core.models.loading import load_model

    return load_model("timm:resnet10t", weights=weights)


def make_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        h, w = int(rng.integers(36, 56)), int(rng.integers(36, 56))
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        arr[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = rng.integers(0, 256, 3, dtype=np.uint8)  # a "object"
        p = folder / f"img{i:02d}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def csv_rows(path: Path, drop: tuple[str, ...] = TIME_COLUMNS) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


def result_files(out: Path) -> set[str]:
    """Files that must be identical between equivalent exports (run records/lock excluded)."""
    skip = (".state/runs/", ".state/lock")
    return {p.relative_to(out).as_posix() for p in out.rglob("*")
            if p.is_file() and not p.relative_to(out).as_posix().startswith(skip)}


def assert_same_export(a: Path, b: Path) -> None:
    files = result_files(a)
    assert files == result_files(b)
    assert not [f for f in files if f.endswith(".l2rtmp")], "temporary files left behind"
    for f in sorted(files):
        if f.endswith(".npy"):
            np.testing.assert_array_equal(np.load(a / f), np.load(b / f), err_msg=f)
        elif f.startswith("overlays/") or f.startswith("curves/"):
            assert np.array_equal(np.asarray(Image.open(a / f)), np.asarray(Image.open(b / f))), f
        elif f.startswith(".state/items/"):
            da, db = (json.loads((x / f).read_text()) for x in (a, b))
            for d in (da, db):
                for k in TIME_COLUMNS:
                    d.pop(k, None)
            assert da == db, f
    assert csv_rows(a / "metrics.csv") == csv_rows(b / "metrics.csv")


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_model(tiny_weights: Path):
    return load_tiny(tiny_weights)
