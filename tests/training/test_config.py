"""TrainConfig: the paper's defaults, JSON file < flags precedence, clear errors."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from l2r_core.errors import ConfigError
from l2r_training.cli.train import add_train_parser, overrides_from_args
from l2r_training.config import TrainConfig, resolve_config


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["train", *argv])


def test_defaults_are_the_published_ones() -> None:
    c = TrainConfig()
    loss = c.loss
    assert (loss.grid_min, loss.grid_max, loss.tau_start, loss.tau_end) == (7, 28, 1.0, 0.3)
    assert (loss.n_iters, loss.n_percentiles, loss.references) == (30, 16, ("black", "mean", "blur"))
    assert (loss.blur_size, loss.blur_sigma, loss.w_del, loss.w_ins) == (37, 37.0, 1.0, 1.0)
    assert (loss.w_peak, loss.peak_window, c.ranking) == (0.0025, 15, "full")
    assert (c.lr, c.weight_decay, c.batch_size, c.grad_clip) == (3e-4, 1e-3, 32, 1.0)
    assert (c.warmup_frac, c.warmup_start_div, c.final_div) == (0.06, 25.0, 1e4)
    assert c.amp == "auto" and c.grad_checkpointing == "auto"  # bf16 on CUDA; checkpointing when memory needs it
    assert c.loss.percentile_samples == 4 and c.targets == "one" and c.threads == 0 and c.max_time is None


def test_file_then_flags_precedence(tmp_path: Path) -> None:
    cfg_file = tmp_path / "train.json"
    cfg_file.write_text(json.dumps({"lr": 1e-3, "steps": 50, "batch_size": 8,
                                    "loss": {"grid_min": 5, "tau_end": 0.5}}))
    args = _parse(["--config", str(cfg_file), "--steps", "7", "--grid-min", "4", "--ranking", "buckets",
                   "--no-amp", "--references", "black,blur"])
    cfg = resolve_config(args.config, overrides_from_args(args))
    assert cfg.steps == 7 and cfg.loss.grid_min == 4  # flags beat the file
    assert cfg.lr == 1e-3 and cfg.batch_size == 8 and cfg.loss.tau_end == 0.5  # the file beats defaults
    assert cfg.loss.grid_max == 28 and cfg.weight_decay == 1e-3  # untouched defaults stay
    assert cfg.loss.ranking == "buckets" and cfg.amp == "off" and cfg.loss.references == ("black", "blur")
    saved = cfg.save(tmp_path / "resolved.json")
    again = TrainConfig.from_dict(json.loads(saved.read_text()))
    assert again == cfg


def test_threshold_ranking_flags() -> None:
    args = _parse(["--ranking", "threshold", "--threshold-temperature", "0.2", "--class-source", "classifier"])
    cfg = resolve_config(None, overrides_from_args(args))
    assert cfg.loss.ranking == "threshold" and cfg.loss.threshold_temperature == 0.2
    assert cfg.explainer == {"class_source": "classifier"}
    args = _parse(["--class-source", "classifier", "--class-evidence"])
    assert resolve_config(None, overrides_from_args(args)).explainer == {"class_source": "classifier",
                                                                         "class_evidence": True}
    assert resolve_config(None, overrides_from_args(_parse(["--no-class-evidence"]))).explainer == {
        "class_evidence": False}
    with pytest.raises(ConfigError, match="threshold_temperature"):
        resolve_config(None, overrides_from_args(_parse(["--threshold-temperature", "0"])))


def test_flags_not_given_do_not_override() -> None:
    assert overrides_from_args(_parse([])) == {}
    assert overrides_from_args(_parse(["--lr", "0.01", "--tau-start", "2"])) == {"lr": 0.01, "loss.tau_start": 2.0}


@pytest.mark.parametrize("bad, words", [
    ({"lr": -1}, "lr must be > 0"),
    ({"loss": {"grid_min": 30}}, "grid_min"),
    ({"augment": "wild"}, "augment"),
    ({"learning_rate": 1}, "unknown settings learning_rate. Known: amp"),
    ({"loss": {"sinkhorn": 3}}, "sinkhorn"),
])
def test_bad_settings_name_the_setting(tmp_path: Path, bad: dict, words: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match=words):
        resolve_config(f)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        resolve_config(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text("{lr: 1")
    with pytest.raises(ConfigError, match="not a valid JSON"):
        resolve_config(tmp_path / "broken.json")


def test_shipped_default_config_matches_the_dataclass() -> None:
    from l2r_resources import resource_path

    path = resource_path("configs", "train_default.json")
    assert resolve_config(path) == TrainConfig()
    shipped, defaults = json.loads(path.read_text()), TrainConfig().to_dict()
    assert set(shipped) == set(defaults) and set(shipped["loss"]) == set(defaults["loss"])  # every setting is listed
