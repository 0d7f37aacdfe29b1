"""SIGKILL in the middle of `python -m l2r_training.cli.export`, then a rerun: the folder ends
exactly as after an uninterrupted run (same files, same maps, same rows), with nothing partial."""
from __future__ import annotations

import pytest

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from l2r_core.batch import ExportOptions, export_folder
from l2r_core.batch.writer import TEMP_MARK

from .test_export_support import assert_same_export, make_images, tiny_model, tiny_weights  # noqa: F401

N_IMAGES = 20


def _items(out: Path) -> list[Path]:
    return list((out / ".state" / "items").rglob("*.json"))


def _assert_nothing_partial(out: Path) -> None:
    """Every file under its final name is complete; only temp files may be half written."""
    for p in out.rglob("*"):
        if not p.is_file() or p.name.endswith(TEMP_MARK) or p.name == "lock":
            continue
        if p.suffix == ".npy":
            assert np.load(p).shape == (32, 32)
        elif p.suffix == ".png":
            Image.open(p).load()
        elif p.suffix == ".json":
            json.loads(p.read_text())


@pytest.mark.slow
def test_sigkill_mid_export_then_rerun_equals_uninterrupted(tmp_path, tiny_model, tiny_weights):
    images = tmp_path / "imgs"
    make_images(images, N_IMAGES)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    export_folder(tiny_model, ExportOptions(images, reference, methods=["gradcam"]))

    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "tests.core.slow_export", "0.3", str(images), "--out", str(killed),
           "--model", "timm:resnet10t", "--weights", str(tiny_weights), "--methods", "gradcam",
           "--device", "cpu", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 180
        while len(_items(killed)) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.15)  # land inside an item: between its map/overlay and its commit
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited early"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()
    done_before = len(_items(killed))
    assert 5 <= done_before < N_IMAGES
    _assert_nothing_partial(killed)

    s = export_folder(tiny_model, ExportOptions(images, killed, methods=["gradcam"]))
    assert (s.skipped, s.computed) == (done_before, N_IMAGES - done_before)
    assert_same_export(reference, killed)
    runs = json.loads((killed / "manifest.json").read_text())["runs"]
    assert sorted(r["status"] for r in runs) == ["finished", "running"]  # the killed run never ended
