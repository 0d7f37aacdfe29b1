"""SIGTERM / Ctrl-C during `l2r train`: a resumable checkpoint, a message, exit status 130."""
from __future__ import annotations

import pytest

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from l2r_training.checkpoint import read_checkpoint
from l2r_training.metrics_log import read_log

from .conftest import tiny_config


@pytest.mark.slow
def test_sigterm_saves_a_resumable_checkpoint(tiny_weights: Path, image_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", steps=100000, checkpoint_every=0).save(tmp_path / "t.json")
    log_path = tmp_path / "run" / "metrics.jsonl"
    cmd = [sys.executable, "-m", "l2r_training.cli.train", "train", "--config", str(cfg),
           "--weights", str(tiny_weights), "--quiet"]
    proc = subprocess.Popen(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(r["event"] == "step" for r in read_log(log_path)):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "training never logged a step"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "SIGTERM" in err and "Resume with: l2r train --resume" in err
    last = read_log(log_path)[-1]
    assert last["event"] == "interrupted"
    done = [r["step"] for r in read_log(log_path) if r["event"] == "step"][-1]
    assert read_checkpoint(tmp_path / "run").step == done == last["step"]
