"""Process faults: SIGKILL during `l2r train`, then resume: the resumed run starts at the last
checkpoint and its losses are the uninterrupted run's, step for step.

Covered elsewhere (referenced, not duplicated):
- SIGTERM / Ctrl-C during `l2r train` checkpoints and exits 130: tests/training/test_signals.py;
- SIGKILL during `l2r export`, then a rerun equals an uninterrupted export:
  tests/core/test_export_kill.py::test_sigkill_mid_export_then_rerun_equals_uninterrupted.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from .conftest import REPO, Corpora
from .ledger import record, scan_outputs


def _train_images(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def _config(data: Path, out: Path, steps: int) -> Any:
    from l2r_training.config import resolve_config

    return resolve_config(None, {
        "data": str(data), "out": str(out), "model": "timm:resnet10t", "image_size": 32, "batch_size": 2,
        "steps": steps, "val_fraction": 0.2, "val_every": 0, "val_max_images": 1, "checkpoint_every": 2,
        "loader_threads": 1, "device": "cpu", "explainer": {"stage_channels": 8, "fusion_channels": 8,
                                                             "head_channels": 4, "embed_dim": 8},
        "loss.grid_min": 3, "loss.grid_max": 6, "loss.n_iters": 5, "loss.n_percentiles": 4, "loss.blur_size": 5,
        "loss.blur_sigma": 2.0, "loss.peak_window": 3})


def _losses(log: list[dict[str, Any]]) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in log if r["event"] == "step"}


def _kill_after_step(cmd: list[str], log_path: Path, step: int) -> list[dict[str, Any]]:
    from l2r_training.metrics_log import read_log

    proc = subprocess.Popen(cmd, cwd=str(REPO), env=dict(os.environ, OMP_NUM_THREADS="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while step not in _losses(read_log(log_path)):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else "exited"
            assert time.monotonic() < deadline, "training never reached the step"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"the run ended by itself before the kill ({proc.returncode})"
    return read_log(log_path)


@pytest.mark.slow
def test_sigkill_during_training_then_resume_continues_the_same_losses(corpora: Corpora, tmp_path: Path) -> None:
    from l2r_core.explainer import load_explainer
    from l2r_core.models.loading import load_model
    from l2r_training.checkpoint import find_checkpoint
    from l2r_training.loop import train
    from l2r_training.metrics_log import read_log

    data, steps = _train_images(tmp_path / "data"), 10  # 7 steps of slack after the kill point
    straight_cfg = _config(data, tmp_path / "straight", steps)
    straight = train(straight_cfg, load_model("timm:resnet10t", weights=corpora.good.path))
    want = _losses(read_log(tmp_path / "straight" / "metrics.jsonl"))
    assert sorted(want) == list(range(1, steps + 1))

    cfg_path = _config(data, tmp_path / "killed", steps).save(tmp_path / "killed.json")
    cmd = [sys.executable, "-m", "l2r_training.cli.train", "train", "--config", str(cfg_path),
           "--weights", str(corpora.good.path), "--quiet"]
    before = _losses(_kill_after_step(cmd, tmp_path / "killed" / "metrics.jsonl", 3))
    record("process:train", "SIGKILL after step 3", f"{len(before)} steps logged")
    start = int(find_checkpoint(tmp_path / "killed").name.split("_")[1])
    assert start % 2 == 0 and 2 <= start <= max(before) < steps  # the last checkpoint before the kill

    cfg = _config(data, tmp_path / "killed", steps)
    resumed = train(cfg, load_model("timm:resnet10t", weights=corpora.good.path), resume=tmp_path / "killed")
    assert resumed.status == "done" and resumed.step == steps
    log = read_log(tmp_path / "killed" / "metrics.jsonl")
    after_start = log[max(i for i, r in enumerate(log) if r["event"] == "start"):]
    again = _losses(after_start)
    assert sorted(again) == list(range(start + 1, steps + 1))  # the resumed run starts at the checkpoint
    for s, loss in {**before, **again}.items():  # killed-run steps and resumed steps: the straight run's losses
        assert loss == pytest.approx(want[s], rel=1e-6, abs=1e-7), (s, loss, want[s])
    model = load_model("timm:resnet10t", weights=corpora.good.path)
    a = load_explainer(straight.explainer_dir, model).decoder.state_dict()
    b = load_explainer(resumed.explainer_dir, model).decoder.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    problems = scan_outputs(tmp_path / "killed", "process:train after SIGKILL and resume")
    assert [p for p in problems if not p.startswith("checkpoints/.step_")] == []


def test_resume_removes_checkpoint_temp_folders_of_a_killed_run(corpora: Corpora, tmp_path: Path) -> None:
    """A SIGKILL inside save_checkpoint leaves its temp folder (checkpoints/.step_N.<host>-<pid>-<random>.l2rtmp/)
    behind; the next run (resume or not) should delete it, as `l2r export` deletes its dead temp files."""
    from l2r_core.atomic import temp_path_for
    from l2r_core.models.loading import load_model
    from l2r_training.loop import train

    data = _train_images(tmp_path / "data")
    cfg = _config(data, tmp_path / "run", 2)
    train(cfg, load_model("timm:resnet10t", weights=corpora.good.path))
    stray = temp_path_for(tmp_path / "run" / "checkpoints" / "step_00000003")
    stray.mkdir()
    (stray / "explainer.json").write_text('{"format": "l2r-expl', encoding="utf-8")  # half-written
    cfg = _config(data, tmp_path / "run", 3)
    train(cfg, load_model("timm:resnet10t", weights=corpora.good.path), resume=tmp_path / "run")
    assert not stray.exists()
