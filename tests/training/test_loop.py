"""Training loop end to end on a tiny model: log, config, explainer, resume, interrupts, NaN."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from l2r_core.errors import Cancelled, ConfigError, NonFiniteError
from l2r_core.explainer import explainer_fingerprint, load_explainer
from l2r_core.progress import CancelToken
from l2r_training.checkpoint import find_checkpoint, read_checkpoint
from l2r_training.loop import train
from l2r_training.metrics_log import read_log

from .conftest import tiny_config

STEP_KEYS = {"event", "step", "total", "time", "loss", "lr", "tau", "grid", "reference", "eta_s"}


class StopAt(CancelToken):
    """Progress that raises ``exc`` when told ``done == at`` (after that many steps)."""

    def __init__(self, at: int, exc: type[BaseException] = Cancelled) -> None:
        super().__init__()
        self.at, self.exc, self.calls = at, exc, []  # type: tuple[int, type[BaseException], list[int]]

    def step(self, done: int, total: int, message: str = "") -> None:
        self.calls.append(done)
        if done == self.at:
            raise self.exc()


def test_end_to_end_writes_log_config_and_loadable_explainer(tiny_model: Any, image_dir: Path,
                                                             tmp_path: Path) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", steps=3, val_every=2)
    progress = StopAt(-1)
    result = train(cfg, tiny_model, None, progress)
    assert result.status == "done" and result.step == 3 and progress.calls == [0, 1, 2, 3]
    records = read_log(tmp_path / "run" / "metrics.jsonl")
    events = [r["event"] for r in records]
    assert events == ["start", "step", "step", "val", "checkpoint", "step", "val", "checkpoint", "done"]
    steps = [r for r in records if r["event"] == "step"]
    assert all(STEP_KEYS <= set(r) for r in steps) and [r["step"] for r in steps] == [1, 2, 3]
    assert all(r["total"] == 3 and 0.0 <= r["loss"] <= 2.1 for r in steps)
    assert [r["tau"] for r in steps] == pytest.approx([1.0, 1.0 - 0.7 / 3, 1.0 - 1.4 / 3])
    assert all(cfg.loss.grid_min <= r["grid"] <= cfg.loss.grid_max for r in steps)
    val = [r for r in records if r["event"] == "val"][-1]
    assert val["protocol"] == "aha" and 0.0 <= val["del_auc"] <= 1.0 and 0.0 <= val["ins_auc"] <= 1.0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["steps"] == 3 and saved["loss"]["grid_max"] == 6
    ck = find_checkpoint(tmp_path / "run")
    assert ck.name == "step_00000003" and json.loads((ck / "config.json").read_text()) == saved
    state = torch.load(ck / "state.pt", weights_only=True)  # plain contents only
    assert state["step"] == 3 and set(state["rng"]) >= {"torch", "numpy", "python"}
    loaded = load_explainer(result.explainer_dir, tiny_model)
    assert explainer_fingerprint(loaded) == explainer_fingerprint(
        load_explainer(ck, tiny_model))
    meta = json.loads((result.explainer_dir / "explainer.json").read_text())
    assert meta["extra"]["training"]["lr"] == cfg.lr and meta["extra"]["steps"] == 3
    maps, _ = loaded.explain(torch.zeros(1, 3, 32, 32))
    assert maps.shape == (1, 32, 32)


@pytest.mark.parametrize("exc", [Cancelled, KeyboardInterrupt])
def test_interrupt_checkpoints_and_resume_matches_uninterrupted(tiny_model: Any, image_dir: Path,
                                                                tmp_path: Path, exc: type) -> None:
    straight = train(tiny_config(image_dir, tmp_path / "a", checkpoint_every=100), tiny_model)
    cfg = tiny_config(image_dir, tmp_path / "b", checkpoint_every=100)
    stopped = train(cfg, tiny_model, None, StopAt(3, exc))
    assert stopped.status == "interrupted" and stopped.step == 3
    assert "--resume" in stopped.message and stopped.checkpoint is not None
    assert read_checkpoint(tmp_path / "b").step == 3
    assert read_log(tmp_path / "b" / "metrics.jsonl")[-1]["event"] == "interrupted"
    progress = StopAt(-1)
    resumed = train(cfg, tiny_model, None, progress, resume=tmp_path / "b")
    assert resumed.status == "done" and progress.calls[0] == 3 and resumed.step == 4
    a = load_explainer(straight.explainer_dir, tiny_model).decoder.state_dict()
    b = load_explainer(resumed.explainer_dir, tiny_model).decoder.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit-identical to the uninterrupted run
    first = load_explainer(find_checkpoint(tmp_path / "b" / "checkpoints" / "step_00000003"), tiny_model)
    assert any(not torch.equal(first.decoder.state_dict()[k], b[k]) for k in b)  # it did train on
    log = read_log(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in log if r["event"] == "step"] == [1, 2, 3, 4]


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", checkpoint_every=1)
    original = tiny_model.logits
    snapshot: dict[str, bytes] = {}

    class PoisonAfter2(CancelToken):
        def step(self, done: int, total: int, message: str = "") -> None:
            if done == 2:
                ck = find_checkpoint(tmp_path / "run")
                snapshot.update({p.name: p.read_bytes() for p in ck.iterdir()})
                snapshot["latest"] = (ck.parent / "latest").read_bytes()
                tiny_model.logits = lambda x: original(x) * float("nan")

    with pytest.raises(NonFiniteError, match="NaN or inf"):
        train(cfg, tiny_model, None, PoisonAfter2())
    ck = find_checkpoint(tmp_path / "run")
    assert ck.name == "step_00000002"
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == {k: v for k, v in snapshot.items() if k != "latest"}
    assert (ck.parent / "latest").read_bytes() == snapshot["latest"]
    assert not (tmp_path / "run" / "checkpoints" / "step_00000003").exists()
    last = read_log(tmp_path / "run" / "metrics.jsonl")[-1]
    assert last["event"] == "error" and "NaN" in last["message"] and last["step"] == 2


def test_fresh_run_refuses_an_existing_run_folder(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", steps=1)
    train(cfg, tiny_model)
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, tiny_model)
    again = train(cfg, tiny_model, overwrite=True)
    assert again.status == "done"
    events = [r["event"] for r in read_log(tmp_path / "run" / "metrics.jsonl")]
    assert events[0] == "start" and events.count("start") == 1  # a fresh run starts a fresh log


def test_checkpointed_chunked_target_gives_the_same_training(tiny_model: Any, image_dir: Path,
                                                            tmp_path: Path) -> None:
    plain = train(tiny_config(image_dir, tmp_path / "a", steps=2, grad_checkpointing=False, target_batch=0),
                  tiny_model)
    chunked = train(tiny_config(image_dir, tmp_path / "b", steps=2, grad_checkpointing=True, target_batch=4),
                    tiny_model)
    a = load_explainer(plain.explainer_dir, tiny_model).decoder.state_dict()
    b = load_explainer(chunked.explainer_dir, tiny_model).decoder.state_dict()
    # Adam's update is about lr in size whatever the gradient's, so summation-order noise shows as ~1e-6
    assert all(torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-5) for k in a)
    assert plain.loss == pytest.approx(chunked.loss, abs=1e-6)


def test_init_fine_tunes_an_existing_explainer(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    first = train(tiny_config(image_dir, tmp_path / "a", steps=1), tiny_model)
    start = explainer_fingerprint(load_explainer(first.explainer_dir, tiny_model))
    cfg = tiny_config(image_dir, tmp_path / "b", steps=2, init=str(first.explainer_dir), seed=5)
    stopped = train(cfg, tiny_model, None, StopAt(0))  # a checkpoint of the state before any step
    assert stopped.status == "interrupted" and stopped.step == 0
    assert explainer_fingerprint(load_explainer(stopped.checkpoint, tiny_model)) == start
    done = train(cfg, tiny_model, resume=tmp_path / "b")
    assert explainer_fingerprint(load_explainer(done.explainer_dir, tiny_model)) != start


def test_threshold_ranking_trains_without_a_grid(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(image_dir, tmp_path / "run", steps=3, **{"loss.ranking": "threshold",
                                                              "loss.percentile_samples": 2})
    result = train(cfg, tiny_model)
    steps = [r for r in read_log(tmp_path / "run" / "metrics.jsonl") if r["event"] == "step"]
    assert result.status == "done" and len(steps) == 3
    assert all(r["grid"] == 0 and 0.0 <= r["loss"] <= 2.1 and r["grad_norm"] > 0 for r in steps)
    meta = json.loads((result.explainer_dir / "explainer.json").read_text())
    assert meta["extra"]["training"]["loss"]["ranking"] == "threshold"


def test_fine_tune_can_switch_the_class_source_to_the_classifier(tiny_model: Any, image_dir: Path,
                                                                 tmp_path: Path) -> None:
    first = train(tiny_config(image_dir, tmp_path / "a", steps=1), tiny_model)
    cfg = tiny_config(image_dir, tmp_path / "b", steps=2, init=str(first.explainer_dir),
                      **{"explainer.class_source": "classifier"})
    done = train(cfg, tiny_model)
    loaded = load_explainer(done.explainer_dir, tiny_model)
    assert loaded.config.class_source == "classifier"
    assert float(loaded.decoder.class_proj.weight.abs().sum()) > 0  # the projection was trained


def test_fine_tune_can_add_the_class_evidence_map(tiny_model: Any, image_dir: Path, tmp_path: Path) -> None:
    first = train(tiny_config(image_dir, tmp_path / "a", steps=1, image_size=64), tiny_model)
    cfg = tiny_config(image_dir, tmp_path / "b", steps=2, image_size=64, init=str(first.explainer_dir),
                      **{"explainer.class_source": "classifier", "explainer.class_evidence": True})
    done = train(cfg, tiny_model)
    loaded = load_explainer(done.explainer_dir, tiny_model)
    assert loaded.config.class_evidence and loaded.config.class_source == "classifier"
    assert float(loaded.decoder.evidence_in.weight.abs().sum()) > 0  # the evidence input was trained
    assert float(loaded.decoder.evidence_log_gain) != 0.0


def test_a_reduced_size_run_also_validates_at_the_models_own_size(tiny_model: Any, image_dir: Path,
                                                                  tmp_path: Path) -> None:
    import dataclasses

    from l2r_training.data import load_fixed, scan_folder, split_indices
    from l2r_training.session import validate

    native = dataclasses.replace(tiny_model.preprocessing, input_size=(48, 48))
    tiny_model.preprocessing = native
    cfg = tiny_config(image_dir, tmp_path / "run", steps=2, val_native=True)
    result = train(cfg, tiny_model)
    val = [r for r in read_log(tmp_path / "run" / "metrics.jsonl") if r["event"] == "val"][-1]
    assert val["native_size"] == [48, 48]
    # the logged figures are the final explainer's scores on the validation images at 48 px
    images = scan_folder(image_dir, tiny_model.class_names)
    x = load_fixed(images, split_indices(images, cfg.val_fraction)[1], native, cfg.val_max_images)[0]
    tiny_model.preprocessing = native
    expected = validate(load_explainer(result.explainer_dir, tiny_model), tiny_model, x, cfg)
    assert (val["native_del_auc"], val["native_ins_auc"]) == pytest.approx(
        (expected["del_auc"], expected["ins_auc"]), abs=1e-6)
    assert (val["del_auc"], val["ins_auc"]) != pytest.approx((val["native_del_auc"], val["native_ins_auc"]))

    for run, changes in (("off", {"val_native": False}), ("same", {"val_native": True, "image_size": 48})):
        tiny_model.preprocessing = native  # training resizes the model it is given
        train(tiny_config(image_dir, tmp_path / run, steps=1, **changes), tiny_model)
    for run in ("off", "same"):  # nothing to add: switched off, or trained at the model's own size
        last = [r for r in read_log(tmp_path / run / "metrics.jsonl") if r["event"] == "val"][-1]
        assert "native_size" not in last and "native_ins_auc" not in last
