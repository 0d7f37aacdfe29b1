"""Training images: folder scan, labels from class subfolders, hash split, seeded batches, augmentation.

Every random choice (which images, crop, flip, jitter, which scene a cut-out lands on) is drawn
from a generator seeded by (seed, step, rank, slot), so a resumed run sees exactly the batches an
uninterrupted one would.
"""
from __future__ import annotations

import hashlib
import math
import re
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from l2r_core.errors import ImageLoadError
from l2r_core.images import list_images, load_image
from l2r_core.models.preprocessing import Preprocessing

from .corpus_augment import augment_photo, composite

UNKNOWN = -1
# (min crop area, brightness/contrast/saturation, hue, grayscale probability) per augmentation level.
AUGMENT_LEVELS = {"light": (0.35, 0.2, 0.0, 0.0), "heavy": (0.08, 0.4, 0.1, 0.1)}
# "photo" (l2r_training.corpus_augment): multi-scale crops and jitter, and images under a
# ``cutouts`` folder pasted onto a random other image of the training set.
CUTOUT_FOLDER = "cutouts"


@dataclass
class ImageSet:
    root: Path
    paths: list[Path]
    labels: list[int]  # model class index, or UNKNOWN
    class_map: dict[str, int] = field(default_factory=dict)  # folder name -> class index
    unmatched: list[str] = field(default_factory=list)  # class folders with no matching class name

    @property
    def has_labels(self) -> bool:
        return any(label != UNKNOWN for label in self.labels)


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[_\-/]+", " ", name)).strip().lower()


def class_index(folder: str, class_names: Sequence[str]) -> int:
    """The model class a folder name denotes: its class name (any synonym separated by ',' or '/',
    e.g. 'T-shirt' for 'T-shirt/top', which no folder name can hold) or, for 1000-class models,
    an ImageNet WordNet id such as n01440764. UNKNOWN when nothing matches."""
    key = _norm(folder)
    for i, name in enumerate(class_names):
        if key in {_norm(part) for part in re.split(r"[,/]", str(name))} or key == _norm(str(name)):
            return i
    if len(class_names) == 1000 and re.fullmatch(r"n\d{8}", folder):
        from timm.data import ImageNetInfo

        wnids = list(ImageNetInfo().label_names())
        if folder in wnids:
            return wnids.index(folder)
    return UNKNOWN


def scan_folder(root: str | Path, class_names: Sequence[str]) -> ImageSet:
    """All images under ``root`` (recursive). Images inside first-level subfolders take the
    subfolder's name as their class (ImageFolder layout)."""
    base = Path(root)
    paths = list_images(base, recursive=True)
    if not paths:
        raise ImageLoadError(f"{base}: no images found (looked for .jpg, .png, ... in all subfolders).")
    class_map: dict[str, int] = {}
    labels = []
    for p in paths:
        parts = p.relative_to(base).parts
        if len(parts) < 2:
            labels.append(UNKNOWN)
            continue
        folder = parts[0]
        if folder not in class_map:
            class_map[folder] = class_index(folder, class_names)
        labels.append(class_map[folder])
    unmatched = sorted(k for k, v in class_map.items() if v == UNKNOWN)
    return ImageSet(base, paths, labels, {k: v for k, v in class_map.items() if v != UNKNOWN}, unmatched)


def split_indices(images: ImageSet, val_fraction: float) -> tuple[list[int], list[int]]:
    """Deterministic train/val split by a hash of each file's path relative to the root, so adding
    images never moves old ones between the sets. At least one image each when possible."""
    keys = [int(hashlib.sha1(p.relative_to(images.root).as_posix().encode()).hexdigest(), 16) / 16**40
            for p in images.paths]
    val = [i for i, k in enumerate(keys) if k < val_fraction]
    if val_fraction > 0 and not val and len(keys) >= 2:
        val = [int(np.argmin(keys))]
    if len(val) == len(keys) and keys:
        val.remove(int(np.argmax(keys)))
    vs = set(val)
    return [i for i in range(len(keys)) if i not in vs], sorted(val)


def steps_for_epochs(n_train: int, epochs: float, batch_size: int, world: int = 1) -> int:
    return max(1, math.ceil(epochs * n_train / (batch_size * world)))


def batch_indices(step: int, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """Positions into a list of ``n`` items for this rank's share of global batch ``step``.

    The global stream is a sequence of seeded epoch permutations; step s takes items
    [s*B*world, (s+1)*B*world) of it and rank r its r-th contiguous slice of B (DistributedSampler-like).
    """
    if n <= 0:
        raise ValueError("no items to sample from")
    start = (step * world + rank) * batch_size
    out: list[int] = []
    epoch, cached = -1, np.empty(0, dtype=np.int64)
    for pos in range(start, start + batch_size):
        e, k = divmod(pos, n)
        if e != epoch:
            epoch, cached = e, np.random.default_rng([seed, e]).permutation(n)
        out.append(int(cached[k]))
    return out


def _crop_box(w: int, h: int, rng: np.random.Generator, min_area: float) -> tuple[int, int, int, int]:
    """RandomResizedCrop's box (top, left, height, width): area in [min_area, 1], ratio 3/4..4/3."""
    for _ in range(10):
        area = w * h * rng.uniform(min_area, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    side = min(w, h)
    return (h - side) // 2, (w - side) // 2, side, side


def is_cutout(path: Path, root: Path) -> bool:
    """Whether ``path`` lies under a folder named ``cutouts`` below ``root`` (photo corpus layout)."""
    return CUTOUT_FOLDER in path.relative_to(root).parts[:-1]


def load_rgba(path: str | Path) -> Image.Image:
    """A cut-out with its alpha (load_image composites transparency over white)."""
    p = Path(path)
    try:
        with Image.open(p) as img:
            return ImageOps.exif_transpose(img).convert("RGBA")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{p}: not an image Pillow can read ({exc}). Replace or remove the file.") from None


def augment_image(img: Image.Image, pre: Preprocessing, level: str, rng: np.random.Generator,
                  scene: Image.Image | None = None) -> torch.Tensor:
    """Random resized crop, flip and colour jitter (torchvision v2 functional ops with our own
    seeded parameters), then the model's own normalisation. ``none`` is plain preprocessing.
    ``photo``: corpus_augment's crops and jitter; an RGBA ``img`` (a cut-out) is pasted onto
    ``scene`` when one is given (over white otherwise)."""
    if level == "none":
        return pre(img)
    if level == "photo":
        if img.mode == "RGBA" and scene is not None:
            out, _ = composite(augment_photo(scene.convert("RGB"), pre.input_size, rng), img, rng)
        else:
            if img.mode == "RGBA":
                white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, img)
            out = augment_photo(img.convert("RGB"), pre.input_size, rng)
        return pre.to_tensor(out)
    min_area, jitter, hue, p_gray = AUGMENT_LEVELS[level]
    top, left, ch, cw = _crop_box(img.width, img.height, rng, min_area)
    img = TF.resized_crop(img, top, left, ch, cw, list(pre.input_size), antialias=True)
    if rng.random() < 0.5:
        img = TF.horizontal_flip(img)
    img = TF.adjust_brightness(img, float(rng.uniform(1 - jitter, 1 + jitter)))
    img = TF.adjust_contrast(img, float(rng.uniform(1 - jitter, 1 + jitter)))
    img = TF.adjust_saturation(img, float(rng.uniform(1 - jitter, 1 + jitter)))
    if hue > 0:
        img = TF.adjust_hue(img, float(rng.uniform(-hue, hue)))
    if p_gray > 0 and rng.random() < p_gray:
        img = TF.rgb_to_grayscale(img, num_output_channels=3)
    return pre.to_tensor(img)


class BatchLoader:
    """Loads seeded, augmented batches on a thread pool, one step ahead of the training loop.

    An unreadable image is skipped with a warning (once per file) and replaced by the next readable
    one in list order, which keeps batches deterministic.
    """

    def __init__(self, images: ImageSet, indices: Sequence[int], pre: Preprocessing, augment: str,
                 batch_size: int, seed: int, rank: int = 0, world: int = 1, threads: int = 4) -> None:
        if not indices:
            raise ImageLoadError(f"{images.root}: no training images left after the validation split.")
        self.images, self.indices, self.pre, self.augment = images, list(indices), pre, augment
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self._bad: set[int] = set()
        # "photo": cut-outs are read with alpha and pasted onto one of the other training images.
        self._cutouts: set[int] = set()
        self._scenes: list[int] = []
        if augment == "photo":
            self._cutouts = {i for i in self.indices if is_cutout(images.paths[i], images.root)}
            self._scenes = [i for i in self.indices if i not in self._cutouts]
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="l2r-data")
        # A separate thread assembles the next batch: submitting it to ``_pool`` itself could
        # deadlock, the batch task waiting on image tasks queued behind it.
        self._prefetcher = ThreadPoolExecutor(1, thread_name_prefix="l2r-prefetch")
        self._ahead: dict[int, Future[tuple[torch.Tensor, torch.Tensor]]] = {}

    def _read(self, pos: int, items: Sequence[int] | None = None) -> tuple[Image.Image, int]:
        """The first readable image from position ``pos`` on (of ``items``, default the training
        indices); cut-outs keep their alpha under ``photo``."""
        items = self.indices if items is None else items
        n = len(items)
        for k in range(n):
            item = items[(pos + k) % n]
            if item in self._bad:
                continue
            try:
                path = self.images.paths[item]
                img = load_rgba(path) if item in self._cutouts else load_image(path)
                return img, self.images.labels[item]
            except ImageLoadError as exc:
                self._bad.add(item)
                warnings.warn(f"skipped unreadable image: {exc}", stacklevel=2)
        raise ImageLoadError(f"{self.images.root}: none of the training images could be read.")

    def _sample(self, step: int, slot: int, pos: int) -> tuple[torch.Tensor, int]:
        img, label = self._read(pos)
        rng = np.random.default_rng([self.seed, step, self.rank, slot])
        scene = None
        if img.mode == "RGBA" and self._scenes:
            # drawn first from the same generator, so the choice is as reproducible as the crop
            start = int(rng.integers(len(self._scenes)))
            try:
                scene = self._read(start, self._scenes)[0]
            except ImageLoadError:
                scene = None  # no readable scene: the cut-out is used over white
        return augment_image(img, self.pre, self.augment, rng, scene), label

    def _load(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = batch_indices(step, len(self.indices), self.batch_size, self.seed, self.rank, self.world)
        items = list(self._pool.map(lambda a: self._sample(step, a[0], a[1]), enumerate(pos)))
        x = torch.stack([t for t, _ in items])
        return x, torch.tensor([label for _, label in items], dtype=torch.long)

    def get(self, step: int, prefetch: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(images (B,C,H,W) normalised, labels (B,) with UNKNOWN = -1) of this rank for ``step``."""
        fut = self._ahead.pop(step, None)
        self._ahead.clear()
        batch = fut.result() if fut is not None else self._load(step)
        if prefetch:
            self._ahead[step + 1] = self._prefetcher.submit(self._load, step + 1)
        return batch

    def close(self) -> None:
        self._ahead.clear()
        self._prefetcher.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)


def load_fixed(images: ImageSet, indices: Sequence[int], pre: Preprocessing, limit: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation images (plain preprocessing), unreadable ones skipped; at most ``limit``,
    spread evenly over ``indices``. Indices follow the path order, so the first ``limit`` would
    all come from the first class folder (that once gave a one-class validation set)."""
    xs, ys = [], []
    for i in spread(list(indices), limit):
        try:
            xs.append(pre(load_image(images.paths[i])))
            ys.append(images.labels[i])
        except ImageLoadError as exc:
            warnings.warn(f"skipped unreadable validation image: {exc}", stacklevel=2)
    if not xs:
        return torch.empty(0, pre.channels, *pre.input_size), torch.empty(0, dtype=torch.long)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)


def spread(items: list[int], limit: int) -> list[int]:
    """At most ``limit`` of ``items``, evenly spaced from first to last (all of them if fewer)."""
    if limit <= 0:
        return []
    if len(items) <= limit:
        return items
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[int(k)] for k in picks]


SPREAD_RANKS = 10  # "spread" draws the second class from ranks 2..10


def second_targets(logits: torch.Tensor, labels: torch.Tensor, rule: str = "runner-up",
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-1, second target): the ground-truth label when top-1 is wrong (the paper's rule);
    otherwise the runner-up ("runner-up", the paper's) or a class drawn uniformly from ranks 2 to
    10 ("spread": on 1000 classes the runner-up is often a near-synonym of top-1, so explaining
    it teaches the class input little)."""
    top1 = logits.argmax(-1)
    if logits.shape[-1] < 2:
        return top1, top1
    if rule == "spread":
        ranked = logits.topk(min(SPREAD_RANKS, logits.shape[-1]), dim=-1).indices
        pick = torch.randint(1, ranked.shape[-1], (logits.shape[0], 1), generator=generator).to(ranked.device)
        other = ranked.gather(1, pick)[:, 0]
    else:
        other = logits.topk(2, dim=-1).indices[:, 1]
    labels = labels.to(top1.device)
    wrong = (labels != UNKNOWN) & (labels != top1)
    return top1, torch.where(wrong, labels, other)

