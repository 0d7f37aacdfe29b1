"""`l2r train` through its own main(): flags, exit codes, resume, TorchScript targets."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from l2r_core.explainer import load_explainer
from l2r_core.models.loading import load_model
from l2r_training.cli.train import main
from l2r_training.metrics_log import read_log

from .conftest import tiny_config


def _config_file(tmp_path: Path, image_dir: Path, **changes: Any) -> Path:
    return tiny_config(image_dir, tmp_path / "run", **changes).save(tmp_path / "tiny.json")


def test_cli_trains_with_flag_overrides_then_resumes(tiny_weights: Path, image_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config_file(tmp_path, image_dir, steps=5, lr=1e-3)
    names = str(tiny_weights.with_name("names.txt"))
    code = main(["train", str(image_dir), "--config", str(cfg), "--weights", str(tiny_weights),
                 "--class-names", names, "--steps", "2", "--batch-size", "3", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "explainer saved" in out and "deletion AUC" in out
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["steps"] == 2 and saved["batch_size"] == 3 and saved["lr"] == 1e-3  # flag > file > default
    model = load_model("timm:resnet10t", weights=tiny_weights)
    assert load_explainer(tmp_path / "run" / "explainer", model).decoder is not None
    # A finished run resumed with more steps continues from step 2 in the same folder.
    code = main(["train", "--resume", str(tmp_path / "run"), "--steps", "3", "--weights", str(tiny_weights),
                 "--quiet"])
    assert code == 0
    log = read_log(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in log if r["event"] == "step"] == [1, 2, 3]
    assert [r["resumed"] for r in log if r["event"] == "start"] == [False, True]


def test_cli_errors_are_one_line(tiny_weights: Path, image_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--model", "demo-cnn"]) == 2
    assert "give --data" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no training checkpoint" in capsys.readouterr().err
    cfg = _config_file(tmp_path, image_dir, steps=1)
    assert main(["train", "--config", str(cfg), "--weights", str(tiny_weights), "--device", "cuda:0", "--quiet"]) \
        == (0 if torch.cuda.is_available() else 2)
    if not torch.cuda.is_available():
        assert "CUDA is not available" in capsys.readouterr().err


def test_torchscript_target_needs_a_backbone(tiny_weights: Path, image_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    timm_model = load_model("timm:resnet10t", weights=tiny_weights).module
    script = tmp_path / "target.pt"
    torch.jit.trace(timm_model, torch.zeros(1, 3, 32, 32)).save(str(script))
    cfg = _config_file(tmp_path, image_dir, steps=1, model=str(script))
    assert main(["train", "--config", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--backbone timm:<arch>" in err and "\n" not in err.strip()
    code = main(["train", "--config", str(cfg), "--backbone", "timm:resnet10t", "--backbone-weights",
                 str(tiny_weights), "--quiet"])
    assert code == 0
    meta = json.loads((tmp_path / "run" / "explainer" / "explainer.json").read_text())
    assert meta["config"]["backbone"] == "timm:resnet10t" and meta["target"]["kind"] == "torchscript"


def test_max_pixels_skips_larger_training_images_by_name(tiny_weights: Path, image_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    from l2r_core.images import MAX_PIXELS, get_max_pixels

    big = image_dir / "zz_big.png"
    Image.new("RGB", (400, 300), (120, 30, 60)).save(big)  # 120,000 px
    try:
        cfg = _config_file(tmp_path, image_dir, steps=2)
        with pytest.warns(UserWarning, match=r"zz_big\.png: refused, its header claims 400x300 .*--max-pixels"):
            code = main(["train", "--config", str(cfg), "--weights", str(tiny_weights), "--quiet", "--batch-size",
                         "8", "--max-pixels", "100000", "--overwrite"])
        assert code == 0
        assert get_max_pixels() == MAX_PIXELS  # the limit was this command's only
        with pytest.raises(SystemExit):
            main(["train", "--max-pixels", "lots"])
        assert "--max-pixels" in capsys.readouterr().err
    finally:
        big.unlink()
