"""Teacher maps (--teacher): the distillation loss's numbers, the cache, and a run that uses them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from l2r_core.errors import Cancelled, ConfigError
from l2r_core.progress import CancelToken
from l2r_training.checkpoint import find_checkpoint
from l2r_training.data import scan_folder, split_indices
from l2r_training.loop import train
from l2r_training.metrics_log import read_log
from l2r_training.teacher import CACHE_NAME, build_teacher_maps, distill_loss, teacher_indices

from .conftest import tiny_config


def test_distill_loss_is_zero_for_the_teachers_order_and_large_for_the_reverse() -> None:
    teacher = torch.arange(64.0).reshape(1, 8, 8) ** 2  # uneven values: only their order counts
    evenly = torch.arange(64.0).reshape(1, 8, 8)
    assert float(distill_loss(evenly, teacher, pool=1)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(3 * evenly + 7, teacher, pool=1)) == pytest.approx(0.0, abs=1e-6)  # scale-free
    assert float(distill_loss(-evenly, teacher, pool=1)) == pytest.approx(4.0 * 63 / 64, rel=1e-3)
    # pooled: detail inside a block is free, the blocks' order is not
    blocks = torch.arange(16.0).reshape(4, 4)
    detail = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(4, 4)  # zero mean in every 2x2 block
    student = torch.kron(blocks, torch.ones(2, 2)) + 0.4 * detail
    coarse_teacher = torch.kron(blocks ** 2, torch.ones(2, 2))
    assert float(distill_loss(student[None], coarse_teacher[None], pool=2)) == pytest.approx(0.0, abs=1e-6)
    reverse = coarse_teacher.flip(-1, -2)[None]  # the blocks in reverse order
    assert float(distill_loss(student[None], reverse, pool=2)) == pytest.approx(4.0 * 15 / 16, rel=1e-3)


def test_the_cache_resumes_an_interrupted_build_and_leaves_out_validation_and_cutouts(
        tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    images = scan_folder(image_dir, tiny_model.class_names)
    train_idx, val_idx = split_indices(images, 0.25)
    indices = teacher_indices(images, train_idx, limit=100)
    assert set(indices) == set(train_idx) and not set(indices) & set(val_idx)
    assert len(teacher_indices(images, train_idx, limit=2)) == 2
    cache = tmp_path / CACHE_NAME
    opts = {"n_masks": 8}

    class StopAfter(CancelToken):
        def step(self, done: int, total: int, message: str = "") -> None:
            if done == 3:  # the third image was not mapped yet
                raise Cancelled()

    with pytest.raises(Cancelled):
        build_teacher_maps(tiny_model, images, indices, "rise", opts, cache, StopAfter())
    assert not cache.exists()  # fewer images than one save: nothing written, nothing half-written
    full = build_teacher_maps(tiny_model, images, indices, "rise", opts, cache)
    assert len(full) == len(indices) and full.maps.shape[0] == full.x.shape[0] == len(indices)
    assert full.maps.shape[1:] == full.x.shape[2:] and cache.is_file()
    calls: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(1)
        raise AssertionError("a cached image was mapped again")

    import l2r_training.teacher as teacher_module
    real = teacher_module.attribute
    teacher_module.attribute = counting
    try:
        again = build_teacher_maps(tiny_model, images, indices, "rise", opts, cache)
    finally:
        teacher_module.attribute = real
    assert not calls and torch.allclose(again.maps, full.maps)
    other = build_teacher_maps(tiny_model, images, indices[:1], "rise", {"n_masks": 4}, cache)
    assert len(other) == 1  # another teacher's settings: mapped afresh, not mixed


def test_a_run_with_a_teacher_logs_the_pull_and_reuses_the_cache_on_resume(tiny_model: Any, image_dir: Path,
                                                                           tmp_path: Path) -> None:
    changes = {"teacher": "rise", "teacher_options": {"n_masks": 8}, "teacher_batch": 2, "steps": 3}
    cfg = tiny_config(image_dir, tmp_path / "run", checkpoint_every=1, **changes)

    class StopAt(CancelToken):
        def step(self, done: int, total: int, message: str = "") -> None:
            if done == 2 and "teacher" not in message:
                raise Cancelled()

    stopped = train(cfg, tiny_model, None, StopAt())
    assert stopped.status == "interrupted"
    log = read_log(tmp_path / "run" / "metrics.jsonl")
    teacher = [r for r in log if r["event"] == "teacher"]
    assert teacher and teacher[0]["method"] == "rise" and teacher[0]["images"] >= 1
    steps = [r for r in log if r["event"] == "step"]
    assert all(0.0 <= r["distill"] <= 4.0 for r in steps) and len(steps) == 2
    mtime = (tmp_path / "run" / CACHE_NAME).stat().st_mtime_ns
    done = train(cfg, tiny_model, resume=find_checkpoint(tmp_path / "run"))
    assert done.status == "done" and (tmp_path / "run" / CACHE_NAME).stat().st_mtime_ns == mtime
    meta = json.loads((done.explainer_dir / "explainer.json").read_text())
    assert meta["extra"]["training"]["teacher"] == "rise"


def test_the_teacher_pull_changes_what_is_learned(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    plain = train(tiny_config(image_dir, tmp_path / "a", steps=2), tiny_model)
    pulled = train(tiny_config(image_dir, tmp_path / "b", steps=2, teacher="rise", teacher_weight=5.0,
                               teacher_options={"n_masks": 8}), tiny_model)
    from l2r_core.explainer import explainer_fingerprint, load_explainer

    assert explainer_fingerprint(load_explainer(plain.explainer_dir, tiny_model)) != \
        explainer_fingerprint(load_explainer(pulled.explainer_dir, tiny_model))


@pytest.mark.parametrize("changes, message", [
    ({"teacher": "l2r"}, "teacher must be one of"),
    ({"teacher": "nope"}, "teacher must be one of"),
    ({"teacher": "rise", "teacher_options": {"masks": 3}}, "rise has no option 'masks'"),
    ({"teacher": "rise", "teacher_weight": 0.0}, "teacher_weight must be > 0"),
])
def test_bad_teacher_settings_are_refused_before_training(image_dir: Path, tmp_path: Path, changes: dict,
                                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tiny_config(image_dir, tmp_path / "run", **changes)
