"""Teacher maps: an attribution method's maps of the training images, and the pull towards them.

The soft deletion/insertion loss gives one number per image and target: with a few hundred photos
the decoder learns them by heart (it beats Grad-CAM on the photos it trained on and trails it on
unseen ones). A slow but strong method (RISE) gives a whole map per photo. ``--teacher rise`` maps
the training split once, before the first step, and adds ``teacher_weight`` times
``distill_loss`` on a few of these photos (flipped at random) to every step's loss.

The maps are cached in ``OUT/teacher_maps.safetensors`` (written atomically every few images), so
an interrupted build resumes where it stopped and a resumed run does not redo it. Cut-outs of the
photo corpus are left out: they train only as composites, which are drawn anew every step.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from l2r_core.atomic import atomic_target
from l2r_core.attribution import attribute
from l2r_core.errors import ConfigError, ImageLoadError
from l2r_core.images import load_image
from l2r_core.models.adapter import ModelAdapter
from l2r_core.progress import Progress, ensure_progress

from .data import ImageSet, is_cutout, spread

CACHE_NAME = "teacher_maps.safetensors"
SAVE_EVERY = 10  # images between cache writes: what an interrupted build can lose
POOL = 4  # maps are compared in 4x4 blocks: the teacher's layout, not its pixel noise


@dataclass
class TeacherMaps:
    """Training images (preprocessed), their top-1 classes and the teacher's maps of them."""

    x: torch.Tensor  # (N, C, H, W)
    targets: torch.Tensor  # (N,)
    maps: torch.Tensor  # (N, H, W) float32

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def sample(self, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(images, classes, maps) of ``k`` images drawn with replacement, each mirrored half the time."""
        idx = torch.randint(len(self), (k,), generator=generator)
        flip = torch.rand(k, generator=generator) < 0.5
        x, maps = self.x[idx].clone(), self.maps[idx].clone()
        x[flip], maps[flip] = x[flip].flip(-1), maps[flip].flip(-1)
        return x, self.targets[idx], maps


def teacher_indices(images: ImageSet, train_idx: Sequence[int], limit: int) -> list[int]:
    """The training images a teacher maps: all but the photo corpus's cut-outs, at most ``limit``
    of them, spread over the folder (they are held in memory for the whole run)."""
    return spread([i for i in train_idx if not is_cutout(images.paths[i], images.root)], limit)


def _key(images: ImageSet, i: int) -> str:
    return images.paths[i].relative_to(images.root).as_posix()


def _read_cache(path: Path, identity: dict[str, Any]) -> dict[str, tuple[int, torch.Tensor]]:
    """image key -> (class, map) from a cache of the same teacher; empty if none or another's."""
    if not path.is_file():
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("teacher", "{}"))
            if meta.get("identity") != identity:
                return {}
            maps, targets = f.get_tensor("maps"), f.get_tensor("targets")
    except (OSError, ValueError, json.JSONDecodeError, RuntimeError, KeyError) as exc:
        raise ConfigError(f"{path}: unreadable teacher-map cache ({exc}). Delete it to map the images "
                          f"again.") from None
    return {k: (int(t), m) for k, t, m in zip(meta["images"], targets.tolist(), maps)}


def _write_cache(path: Path, identity: dict[str, Any], done: dict[str, tuple[int, torch.Tensor]]) -> None:
    from safetensors.torch import save_file

    keys = list(done)
    tensors = {"maps": torch.stack([done[k][1] for k in keys]).half().contiguous(),
               "targets": torch.tensor([done[k][0] for k in keys], dtype=torch.long)}
    meta = {"teacher": json.dumps({"identity": identity, "images": keys})}
    with atomic_target(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def build_teacher_maps(model: ModelAdapter, images: ImageSet, indices: Sequence[int], method: str,
                       options: dict[str, Any], cache: Path, progress: Progress | None = None) -> TeacherMaps:
    """Map ``indices`` with ``method`` (top-1 class, the model's current preprocessing), reusing and
    extending ``cache``. Unreadable images are skipped, as in training. Raises Cancelled from
    ``progress`` with the cache holding what was done."""
    progress = ensure_progress(progress)
    pre = model.preprocessing
    identity = {"method": method, "options": options, "input_size": list(pre.input_size)}
    done = _read_cache(cache, identity)
    xs, targets, maps = [], [], []
    added = 0
    for n, i in enumerate(indices):
        progress.step(n, len(indices), f"teacher maps ({method})")
        try:
            x = pre(load_image(images.paths[i]))[None].to(model.device)
        except ImageLoadError:
            continue
        key = _key(images, i)
        if key not in done:
            with torch.no_grad():
                target = int(model.logits(x).argmax(-1))
            done[key] = (target, attribute(method, model, x, target, **options)[0].cpu().half())
            added += 1
            if added % SAVE_EVERY == 0:
                _write_cache(cache, identity, done)
        xs.append(x[0].cpu())
        targets.append(done[key][0])
        maps.append(done[key][1].float())
    if added % SAVE_EVERY:
        _write_cache(cache, identity, done)
    progress.step(len(indices), len(indices), f"teacher maps ({method})")
    if not xs:
        raise ConfigError(f"{images.root}: no training image to map with the teacher (cut-outs are left "
                          f"out). Train without --teacher.")
    return TeacherMaps(torch.stack(xs), torch.tensor(targets, dtype=torch.long), torch.stack(maps))


def _standardise(m: torch.Tensor) -> torch.Tensor:
    f = m.flatten(1)
    return (f - f.mean(1, keepdim=True)) / (f.std(1, keepdim=True) + 1e-6)


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, pool: int = POOL) -> torch.Tensor:
    """Mean squared gap between the standardised student map and the standardised ranks of the
    teacher's, both averaged over ``pool`` x ``pool`` blocks: (B, H, W) each, 0 when the student
    orders the blocks as the teacher does with evenly spaced scores, about 4 for the reverse order.

    Ranks, not values: only the teacher's order matters to deletion and insertion, and RISE's
    values crowd near their mean."""
    s = F.avg_pool2d(student.float()[:, None], pool)[:, 0]
    t = F.avg_pool2d(teacher.float()[:, None], pool)[:, 0].flatten(1)
    ranks = t.argsort(1).argsort(1).float()
    return ((_standardise(s) - _standardise(ranks)) ** 2).mean()
