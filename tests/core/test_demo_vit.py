"""The bundled demo-vit (Fashion-MNIST ViT): loads by name, is accurate through the adapter's own
preprocessing, exposes 7x7 feature maps; and the idx reader fails with a clear message."""
from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from l2r_core.errors import L2RError
from l2r_core.models import load_model
from l2r_resources import resource_path
from l2r_training import fashion_mnist as fm

needs_data = pytest.mark.skipif(
    not fm.is_available(),
    reason=f"Fashion-MNIST not installed in {fm.data_dir()} (run: {fm.APT_HINT})",
)


@pytest.fixture(scope="module")
def adapter():
    return load_model("demo-vit")


def test_demo_vit_loads_with_config(adapter) -> None:
    cfg = json.loads(resource_path("demo_vit", "config.json").read_text(encoding="utf-8"))
    assert adapter.name == "demo-vit"
    assert adapter.num_classes == 10
    assert list(adapter.class_names) == list(fm.CLASS_NAMES) == cfg["class_names"]
    pre = adapter.preprocessing
    assert pre.grayscale and pre.channels == 1
    assert tuple(pre.input_size) == (28, 28) and pre.resize == "squash"
    assert pre.mean[0] == pytest.approx(0.2860) and pre.std[0] == pytest.approx(0.3530)
    # small enough to ship in the wheel
    assert resource_path("demo_vit", "model.safetensors").stat().st_size < 3 * 1024 * 1024


@needs_data
def test_demo_vit_accuracy_through_adapter_preprocessing(adapter) -> None:
    images, labels = fm.load_split("test")
    n = 500
    # uint8 array -> PIL -> the adapter's own preprocessing: the path a user's image takes
    x = torch.stack([adapter.preprocessing(Image.fromarray(images[i], mode="L")) for i in range(n)])
    assert x.shape == (n, 1, 28, 28)
    with torch.no_grad():
        pred = adapter.logits(x).argmax(1).numpy()
    acc = float((pred == labels[:n]).mean())
    assert acc > 0.85, f"demo-vit accuracy on the first {n} test images is {acc:.3f}"


def test_demo_vit_features_are_7x7_maps(adapter) -> None:
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        logits, feats = adapter.logits_and_features(x)
        plain = adapter.logits(x)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(logits, plain, rtol=1e-4, atol=1e-4)
    assert len(feats) == 4
    for f in feats:
        assert f.ndim == 4 and f.shape[0] == 2 and tuple(f.shape[-2:]) == (7, 7)


def test_samples_are_test_split_images_of_their_class(adapter) -> None:
    folder = resource_path("samples_fashion")
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) >= 8
    slugs = {fm.class_slug(i): i for i in range(len(fm.CLASS_NAMES))}
    correct = 0
    for p in pngs:
        slug, index = p.stem.rsplit("_", 1)
        img = Image.open(p)
        assert img.size == (28, 28) and img.mode == "L"
        with torch.no_grad():
            pred = int(adapter.logits(adapter.preprocessing(img)[None]).argmax(1))
        correct += pred == slugs[slug]
        if fm.is_available():
            images, _ = _test_split()  # the PNG is that very test image, unchanged
            assert np.array_equal(np.asarray(img), images[int(index)])
    assert correct >= len(pngs) - 1  # the samples are meant to show mostly right answers


@functools.lru_cache(maxsize=1)
def _test_split() -> tuple[np.ndarray, np.ndarray]:
    return fm.load_split("test")


def test_reader_names_missing_path_and_apt_command(tmp_path: Path) -> None:
    with pytest.raises(L2RError) as err:
        fm.load_split("train", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in msg
    assert "apt-get install -y dataset-fashion-mnist" in msg
    assert not fm.is_available(tmp_path)


def test_reader_parses_idx_and_rejects_bad_magic(tmp_path: Path) -> None:
    imgs = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    header = np.array([2051, 3, 28, 28], dtype=">i4").tobytes()
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(header + imgs.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(np.array([2049, 3], dtype=">i4").tobytes() + bytes([9, 0, 4]))
    x, y = fm.load_split("test", tmp_path)
    assert x.shape == (3, 28, 28) and np.array_equal(x, imgs)
    assert y.tolist() == [9, 0, 4] and y.dtype == np.int64
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(np.array([2051, 3], dtype=">i4").tobytes() + bytes([9, 0, 4]))
    with pytest.raises(L2RError, match="bad magic"):
        fm.load_split("test", tmp_path)


def test_png_writer_names_files_by_index_and_class(tmp_path: Path, monkeypatch, capsys) -> None:
    imgs = (np.arange(3 * 28 * 28) % 251).astype(np.uint8).reshape(3, 28, 28)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(np.array([2051, 3, 28, 28], dtype=">i4").tobytes() + imgs.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(np.array([2049, 3], dtype=">i4").tobytes() + bytes([9, 0, 4]))
    out = tmp_path / "out"
    paths = fm.write_pngs("test", 2, out, root=tmp_path)
    assert [p.name for p in paths] == ["00000_ankle_boot.png", "00001_t_shirt_top.png"]
    assert np.array_equal(np.asarray(Image.open(paths[1])), imgs[1])
    monkeypatch.setenv(fm.ENV_VAR, str(tmp_path / "missing"))
    assert fm.main(["test", "5", str(out)]) == 2
    assert "apt-get install -y dataset-fashion-mnist" in capsys.readouterr().err
