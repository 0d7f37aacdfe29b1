"""Fashion-MNIST from the local Debian package ``dataset-fashion-mnist`` (idx ubyte .gz files).

``python -m l2r_training.fashion_mnist test 500 DIR`` writes the first 500 test images as PNGs
(``DIR/<index>_<class>.png``): the held-out set of the demo-vit quality benchmark.

Nothing is downloaded: the files come from ``apt-get install -y dataset-fashion-mnist``, which puts
them in /usr/share/datasets/fashion-mnist/. ``L2R_FASHION_MNIST_DIR`` points elsewhere.
Fashion-MNIST is (c) 2017 Zalando SE, MIT (Expat) licence.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from l2r_core.errors import L2RError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "L2R_FASHION_MNIST_DIR"
APT_HINT = "apt-get install -y dataset-fashion-mnist"
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# idx magic numbers: 0x0000 0803 = uint8 3-d (images), 0x0000 0801 = uint8 1-d (labels).
_MAGIC_IMAGES, _MAGIC_LABELS = 2051, 2049


class DatasetMissingError(L2RError):
    """The Fashion-MNIST files are not installed where we look."""


def class_slug(index: int) -> str:
    """File-name form of a class name: 'T-shirt/top' -> 't_shirt_top', 'Ankle boot' -> 'ankle_boot'."""
    return "".join(ch if ch.isalnum() else "_" for ch in CLASS_NAMES[index].lower())


def data_dir(root: str | Path | None = None) -> Path:
    """The folder holding the idx files: ``root``, else $L2R_FASHION_MNIST_DIR, else the apt path."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)


def split_paths(split: str, root: str | Path | None = None) -> tuple[Path, Path]:
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = data_dir(root)
    images, labels = _FILES[split]
    return folder / images, folder / labels


def is_available(root: str | Path | None = None) -> bool:
    return all(p.is_file() for s in _FILES for p in split_paths(s, root))


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """One gzip'd idx file -> uint8 array; the header gives the dimensions (big-endian int32)."""
    if not path.is_file():
        raise DatasetMissingError(
            f"{path}: Fashion-MNIST file not found. Install it with: {APT_HINT} "
            f"(or set {ENV_VAR} to a folder holding the four idx .gz files).")
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    head = np.frombuffer(raw, dtype=">i4", count=1)
    if len(raw) < 8 or int(head[0]) != magic:
        raise DatasetMissingError(f"{path}: not an idx file of the expected kind (bad magic number).")
    ndim = magic & 0xFF
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if data.size != int(np.prod(dims)):
        raise DatasetMissingError(f"{path}: truncated idx file ({data.size} bytes for shape {dims}).")
    return data.reshape(dims)


def load_split(split: str, root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of ``split`` ('train' or 'test')."""
    img_path, lab_path = split_paths(split, root)
    images = _read_idx(img_path, _MAGIC_IMAGES)
    labels = _read_idx(lab_path, _MAGIC_LABELS).astype(np.int64)
    if len(images) != len(labels):
        raise DatasetMissingError(f"{img_path}: {len(images)} images but {len(labels)} labels.")
    return images, labels


def write_pngs(split: str, count: int, out_dir: str | Path, root: str | Path | None = None) -> list[Path]:
    """The first ``count`` images of ``split`` as ``<index>_<class slug>.png`` in ``out_dir``."""
    from PIL import Image

    images, labels = load_split(split, root)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(min(count, len(images))):
        path = folder / f"{i:05d}_{class_slug(int(labels[i]))}.png"
        Image.fromarray(images[i], mode="L").save(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="Write the first N Fashion-MNIST images of a split as PNGs.")
    ap.add_argument("split", choices=sorted(_FILES))
    ap.add_argument("count", type=int)
    ap.add_argument("out_dir")
    args = ap.parse_args(argv)
    try:
        written = write_pngs(args.split, args.count, args.out_dir)
    except DatasetMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} images to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
