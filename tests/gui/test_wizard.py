"""The fine-tuning wizard end to end: a tiny timm model and image folder through all five pages to a
trained explainer (real `l2r train` child processes), then Cancel mid-run and Resume."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from l2r_core.explainer import load_explainer
from l2r_core.models.loading import load_model
from l2r_desktop.wizard import FineTuneWizard, open_dialog
from l2r_desktop.wizard.dialog import PAGE_DONE, PAGE_SETTINGS, PAGE_TRAINING
from l2r_desktop.wizard.options import existing_run
from l2r_desktop.wizard.viewmodel import load_options
from l2r_training.metrics_log import read_log

from .test_wizard_support import (BACK, LONG, click, fill_data, fill_model, fill_settings, make_folder,  # noqa: F401
                                  next_enabled, slow_steps, tiny_config, wizard_weights)

pytestmark = pytest.mark.gui


def _open(qtbot, window_factory) -> tuple[object, FineTuneWizard]:
    win = window_factory()
    assert win.actions.wizard.isEnabled()
    win.actions.wizard.trigger()
    wiz = win.findChild(FineTuneWizard)
    assert wiz is not None and open_dialog(win) is wiz  # one wizard per window
    qtbot.waitExposed(wiz)
    return win, wiz


def _to_training(qtbot, wiz, tmp_path: Path, weights: Path, steps: int, val_every: int) -> Path:
    fill_model(qtbot, wiz, weights)
    wiz.next()
    fill_data(qtbot, wiz, make_folder(tmp_path / "images"))
    wiz.next()
    out = tmp_path / "run"
    fill_settings(wiz, out, tiny_config(tmp_path / "tiny.json"), steps, val_every)
    assert next_enabled(wiz)
    return out


def test_wizard_trains_an_explainer_and_the_window_uses_it(qtbot, window_factory, wizard_weights, tmp_path,
                                                           settings):
    t0 = time.perf_counter()
    win, wiz = _open(qtbot, window_factory)
    page = fill_model(qtbot, wiz, wizard_weights)
    assert "3 classes" in page.result.text() and "Test prediction on" in page.result.text()
    wiz.next()
    data = fill_data(qtbot, wiz, make_folder(tmp_path / "images"))
    assert data.summary.text().startswith("8 images: ") and "2 class folders (ants, bees)" in data.summary.text()
    assert len(data.thumbs) == 6
    wiz.next()
    out = tmp_path / "run"
    sp = fill_settings(wiz, out, tiny_config(tmp_path / "tiny.json"), steps=3, val_every=1)
    assert not sp.run_box.isVisible()  # nothing to resume in a new folder
    assert sp.estimate_button.isEnabled()  # (the estimate runs against a stand-in: test_wizard_parts)
    t_estimate = time.perf_counter()
    wiz.next()  # "Start training"
    tp = wiz.currentPage()
    assert wiz.currentId() == PAGE_TRAINING
    qtbot.waitUntil(lambda: not wiz.button(BACK).isEnabled(), timeout=2000)  # no Back while it runs
    qtbot.waitUntil(lambda: wiz.training.state in ("done", "failed"), timeout=LONG)
    assert wiz.training.state == "done", tp.details.toPlainText()
    t_train = time.perf_counter()
    x, y = tp.loss_curve.getData()
    assert list(x) == [1, 2, 3] and np.all(np.isfinite(y))
    dx, dy = tp.del_curve.getData()
    ix, iy = tp.ins_curve.getData()
    assert list(dx) == list(ix) == [1, 2, 3] and np.all((dy >= 0) & (dy <= 1)) and np.all((iy >= 0) & (iy <= 1))
    assert tp.bar.value() == tp.bar.maximum() == 3
    assert next_enabled(wiz)
    wiz.next()
    done = wiz.currentPage()
    assert wiz.currentId() == PAGE_DONE and str(out / "explainer") in done.where.text()
    assert "deletion AUC" in done.scores.text()
    # The explainer loads for the model and gives maps that depend on the image.
    model = load_model("timm:resnet10t", weights=wizard_weights)
    explainer = load_explainer(out / "explainer", model)
    with torch.no_grad():
        maps, logits = explainer.explain(torch.randn(2, 3, 32, 32))
    assert maps.shape == (2, 32, 32) and logits.shape == (2, 3) and torch.isfinite(maps).all()
    assert float(maps.std()) > 0
    # "Use it now": the main window loads this model with the new explainer.
    click(qtbot, done.use_button)
    qtbot.waitUntil(lambda: "Loaded" in done.use_status.text(), timeout=60_000)
    assert win.models.loaded.explainer_path == str(out / "explainer")
    assert win.models.loaded.spec == "timm:resnet10t" and win.models.explainer is not None
    model_before = win.models.model
    click(qtbot, done.use_button)  # the same model is loaded now: only the explainer is (re)loaded
    assert done.use_status.text().startswith("Loading the explainer")
    qtbot.waitUntil(lambda: "Loaded" in done.use_status.text(), timeout=60_000)
    assert win.models.model is model_before
    wiz.close()
    remembered = load_options(settings)
    assert (remembered.arch, remembered.steps, remembered.batch_size, remembered.out) == ("resnet10t", 3, 2, str(out))
    assert remembered.advanced["loss.grid_max"] == 6 and remembered.length_unit == "steps"
    print(f"\n[timing] pages 1-3 {t_estimate - t0:.1f} s, training {t_train - t_estimate:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s")


def test_cancel_keeps_a_checkpoint_and_resume_finishes(qtbot, window_factory, wizard_weights, tmp_path, slow_steps):
    """Cancel ends the run (its checkpoint is offered); Back to the settings resumes it by default, to the end.
    Each step is slowed down (``slow_steps``), so the cancel lands mid-run however loaded the machine is."""
    t0 = time.perf_counter()
    _, wiz = _open(qtbot, window_factory)
    out = _to_training(qtbot, wiz, tmp_path, wizard_weights, steps=8, val_every=0)
    wiz.next()
    tp, training = wiz.currentPage(), wiz.training
    qtbot.waitUntil(lambda: len(training.loss_steps) >= 1 or training.state == "failed", timeout=LONG)
    assert training.state == "running", tp.details.toPlainText()
    click(qtbot, tp.cancel_button)
    assert training.state == "stopping" and not tp.pause_button.isEnabled()
    qtbot.waitUntil(lambda: not training.active, timeout=LONG)
    assert training.state == "cancelled", tp.details.toPlainText()
    log = read_log(out / "metrics.jsonl")
    stopped = [r["step"] for r in log if r["event"] == "step"][-1]
    assert log[-1]["event"] == "interrupted" and 1 <= stopped < 8
    run = existing_run(out)
    assert run is not None and (run.step, run.total, run.finished) == (stopped, 8, False)
    assert f"Cancelled at step {stopped} of 8" in tp.status.text() and tp.offer.isVisible()
    assert training.checkpoint_dir == run.checkpoint and not tp.resume_button.isEnabled()
    assert wiz.button(BACK).isEnabled()
    t_cancel = time.perf_counter()
    wiz.back()  # the settings page sees the cancelled run and resumes it by default
    sp = wiz.currentPage()
    assert wiz.currentId() == PAGE_SETTINGS and sp.run_box.isVisible() and sp.resume_radio.isChecked()
    assert f"an interrupted run (checkpoint at step {stopped} of 8)" in sp.run_label.text()
    wiz.next()  # "Start training": resumes
    qtbot.waitUntil(lambda: training.state in ("done", "failed"), timeout=LONG)
    assert training.state == "done", tp.details.toPlainText()
    log = read_log(out / "metrics.jsonl")
    assert [r["resumed"] for r in log if r["event"] == "start"] == [False, True]
    assert [r["step"] for r in log if r["event"] == "step" and r["time"] > log[0]["time"]][-1] == 8
    assert training.loss_steps == list(range(1, 9))  # the curve shows both parts of the run
    assert next_enabled(wiz) and not tp.offer.isVisible()
    wiz.next()
    assert wiz.currentId() == PAGE_DONE and str(out / "explainer") in wiz.currentPage().where.text()
    model = load_model("timm:resnet10t", weights=wizard_weights)
    with torch.no_grad():
        assert load_explainer(out / "explainer", model).explain(torch.randn(1, 3, 32, 32))[0].shape == (1, 32, 32)
    wiz.close()
    print(f"\n[timing] start+cancel {t_cancel - t0:.1f} s, resume {time.perf_counter() - t_cancel:.1f} s")


def test_back_from_a_stopped_run_offers_to_resume(qtbot, window_factory, wizard_weights, tmp_path):
    """The settings page sees the interrupted run in the chosen folder and resumes it by default."""
    _, wiz = _open(qtbot, window_factory)
    out = _to_training(qtbot, wiz, tmp_path, wizard_weights, steps=8, val_every=0)
    ck = out / "checkpoints" / "step_00000003"
    ck.mkdir(parents=True)
    (out / "checkpoints" / "latest").write_text("step_00000003\n")
    (out / "metrics.jsonl").write_text('{"event": "interrupted", "step": 3, "total": 8, "time": 1}\n')
    sp = wiz.page(PAGE_SETTINGS)
    sp.refresh()
    assert sp.run_box.isVisible() and "an interrupted run (checkpoint at step 3 of 8)" in sp.run_label.text()
    assert sp.resume_radio.isChecked() and wiz.vm.opts.resume_existing
    sp.fresh_radio.click()
    assert not wiz.vm.opts.resume_existing
    wiz.close()
