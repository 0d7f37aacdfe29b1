"""torchrun with 2 CPU processes (gloo): both ranks end with identical decoder weights."""
from __future__ import annotations

import pytest

import os
import subprocess
import sys
from pathlib import Path

from l2r_core.explainer import explainer_fingerprint, load_explainer
from l2r_core.models.loading import load_model
from l2r_training.metrics_log import read_log

from .conftest import tiny_config


@pytest.mark.slow
def test_two_process_gloo_training_keeps_ranks_identical(tiny_weights: Path, image_dir: Path,
                                                         tmp_path: Path) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", steps=3, checkpoint_every=2).save(tmp_path / "tiny.json")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).with_name("ddp_worker.py")), str(cfg), str(tiny_weights), str(tmp_path / "hash")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    h0 = (tmp_path / "hash.rank0").read_text().strip()
    h1 = (tmp_path / "hash.rank1").read_text().strip()
    assert h0 == h1 and len(h0) == 16
    model = load_model("timm:resnet10t", weights=tiny_weights)
    assert explainer_fingerprint(load_explainer(tmp_path / "run" / "explainer", model)) == h0
    log = read_log(tmp_path / "run" / "metrics.jsonl")  # written by rank 0 only
    starts = [r for r in log if r["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world"] == 2
    assert [r["step"] for r in log if r["event"] == "step"] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step_*")) == \
        ["step_00000002", "step_00000003"]
