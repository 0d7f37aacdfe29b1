"""Controlling the wizard's run, driven as a user would: start from an existing explainer (--init), Pause then
Resume (the same run goes on to its end), Cancel (the run ends and its last checkpoint is offered, and loads, as
the explainer), an output folder that never replaces a kept explainer by default, and a time estimate that
follows the settings before the run and the real step times during it.

The real runs use a tiny resnet10t with each step slowed down (``slow_steps``), so Pause and Cancel always land
mid-run; estimate and ETA use the stand-in trainer, whose log carries known step times."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import torch

from l2r_core.explainer import load_explainer
from l2r_core.models.loading import load_model
from l2r_desktop.wizard import FineTuneWizard, open_dialog
from l2r_desktop.wizard.dialog import PAGE_DONE, PAGE_SETTINGS, PAGE_TRAINING
from l2r_desktop.wizard.estimate import run_eta, step_seconds
from l2r_desktop.wizard.options import existing_run, fresh_folder, out_in_use, train_args
from l2r_desktop.wizard.page_training import CANCEL, CANCELLING, PAUSE, PAUSING
from l2r_training.metrics_log import read_log

from .test_wizard_support import (wiz, CLOSE, LONG, NEXT, click, fake_trainer, fill_data, fill_model,  # noqa: F401
                                  fill_settings, make_folder, next_enabled, slow_steps, tiny_config, wizard_weights)

pytestmark = pytest.mark.gui


def _to_settings(qtbot, wiz, tmp_path: Path, weights: Path) -> object:
    fill_model(qtbot, wiz, weights)
    wiz.next()
    fill_data(qtbot, wiz, make_folder(tmp_path / "images"))
    wiz.next()
    assert wiz.currentId() == PAGE_SETTINGS
    return wiz.currentPage()


def _blocked_with(wiz, text: str) -> str:
    page = wiz.currentPage()
    assert not wiz.button(NEXT).isEnabled() and page.reason_label.isVisible()
    assert text in page.reason_label.text(), page.reason_label.text()
    return page.reason_label.text()


def _parse(args: list[str]):
    from l2r_training.cli.train import add_train_parser, resolve_args

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    return resolve_args(parser.parse_args(args))[0]


def _explainer_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "explainer.json").write_text("{}")
    return folder


# -- Start from an existing explainer ------------------------------------------------------------------------------
def test_start_from_an_explainer_passes_init_and_refuses_other_folders(qtbot, wiz, wizard_weights, tmp_path,
                                                                       dialog_log):
    sp = _to_settings(qtbot, wiz, tmp_path, wizard_weights)
    fill_settings(wiz, tmp_path / "run", tiny_config(tmp_path / "tiny.json"), steps=3, val_every=0)
    assert next_enabled(wiz) and "--init" not in train_args(wiz.vm.opts)  # optional: empty trains a new one
    empty = tmp_path / "not-an-explainer"
    empty.mkdir()
    qtbot.keyClicks(sp.init.edit, str(empty))  # typed
    text = _blocked_with(wiz, f"The folder {empty} holds no explainer.json")
    assert "choose a folder that holds explainer.json" in text and "clear the field" in text
    sp.init.edit.setText(str(tmp_path / "missing"))
    _blocked_with(wiz, f"The explainer folder {tmp_path / 'missing'} does not exist")
    run = tmp_path / "earlier-run"
    _explainer_folder(run / "explainer")
    sp.init.edit.setText(str(run))
    _blocked_with(wiz, f"choose {run / 'explainer'}")  # a run's folder: the fix names its explainer folder
    dialog_log.open_folder = str(run / "explainer")
    click(qtbot, sp.init.button)  # Browse...
    assert sp.init.text() == str(run / "explainer") and next_enabled(wiz)
    args = train_args(wiz.vm.opts)
    assert args[args.index("--init") + 1] == str(run / "explainer")
    assert _parse(args).init == str(run / "explainer")  # the real `l2r train` parser reads it
    sp.init.edit.clear()
    assert next_enabled(wiz) and "--init" not in train_args(wiz.vm.opts)


# -- Pause / Resume, Cancel -------------------------------------------------------------------------------------------
def _start_real_run(qtbot, wiz, tmp_path: Path, weights: Path, steps: int, val_every: int = 0) -> Path:
    _to_settings(qtbot, wiz, tmp_path, weights)
    out = tmp_path / "run"
    fill_settings(wiz, out, tiny_config(tmp_path / "tiny.json"), steps, val_every)
    assert next_enabled(wiz)
    wiz.next()  # "Start training"
    assert wiz.currentId() == PAGE_TRAINING
    return out


def test_pause_then_resume_continues_the_same_run_to_its_end(qtbot, wiz, wizard_weights, tmp_path, slow_steps):
    out = _start_real_run(qtbot, wiz, tmp_path, wizard_weights, steps=8)
    tp, t = wiz.currentPage(), wiz.training
    qtbot.waitUntil(lambda: len(t.loss_steps) >= 1 or t.state == "failed", timeout=LONG)
    assert t.state == "running", tp.details.toPlainText()
    assert (tp.pause_button.text(), tp.cancel_button.text()) == (PAUSE, CANCEL)
    assert tp.pause_button.isEnabled() and tp.cancel_button.isEnabled() and not tp.resume_button.isEnabled()
    with qtbot.waitSignal(t.stateChanged, timeout=5000):
        click(qtbot, tp.pause_button)
    assert t.state == "stopping" and tp.pause_button.text() == PAUSING and tp.cancel_button.text() == CANCEL
    assert not tp.pause_button.isEnabled() and not tp.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not t.active, timeout=LONG)
    assert t.state == "paused", tp.details.toPlainText()
    stopped = existing_run(out)
    assert stopped is not None and 1 <= stopped.step < 8 and not stopped.finished
    assert f"Paused: checkpoint at step {stopped.step} of 8 kept" in tp.status.text()
    assert tp.progress_label.text() == f"paused at step {stopped.step}/8"
    assert tp.resume_button.isEnabled() and tp.cancel_button.isEnabled() and not tp.pause_button.isEnabled()
    assert tp.pause_button.text() == PAUSE and not tp.offer.isVisible() and not next_enabled(wiz)
    assert "Resume it to finish" in tp.reason_label.text()
    click(qtbot, tp.resume_button)
    qtbot.waitUntil(lambda: t.state in ("done", "failed"), timeout=LONG)
    assert t.state == "done", tp.details.toPlainText()
    log = read_log(out / "metrics.jsonl")
    assert [r["resumed"] for r in log if r["event"] == "start"] == [False, True]  # one run, continued
    assert [r["step"] for r in log if r["event"] == "step"][-1] == 8 and t.loss_steps == list(range(1, 9))
    assert tp.bar.value() == tp.bar.maximum() == 8 and next_enabled(wiz)
    assert not tp.resume_button.isEnabled() and not tp.cancel_button.isEnabled()
    wiz.next()
    assert wiz.currentId() == PAGE_DONE and str(out / "explainer") in wiz.currentPage().where.text()


def test_cancel_offers_the_last_checkpoint_and_it_loads_in_the_window(qtbot, window_factory, wizard_weights,
                                                                      tmp_path, slow_steps):
    win = window_factory()
    wiz = open_dialog(win)
    qtbot.waitExposed(wiz)
    out = _start_real_run(qtbot, wiz, tmp_path, wizard_weights, steps=40)
    tp, t = wiz.currentPage(), wiz.training
    qtbot.waitUntil(lambda: len(t.loss_steps) >= 1 or t.state == "failed", timeout=LONG)
    assert t.state == "running", tp.details.toPlainText()
    click(qtbot, tp.cancel_button)
    assert t.state == "stopping" and tp.cancel_button.text() == CANCELLING and not tp.pause_button.isEnabled()
    qtbot.waitUntil(lambda: not t.active, timeout=LONG)
    assert t.state == "cancelled", tp.details.toPlainText()
    step = [r for r in read_log(out / "metrics.jsonl") if r["event"] == "interrupted"][-1]["step"]
    ck = out / "checkpoints" / f"step_{step:08d}"
    assert 1 <= step < 40 and t.checkpoint_dir == ck
    # The offer: the checkpoint folder, and a button that uses it. The run is over: no Resume.
    assert tp.offer.isVisible() and str(ck) in tp.offer_label.text() and f"step {step} of 40" in tp.offer_label.text()
    assert f"Cancelled at step {step} of 40: the run has ended" in tp.status.text()
    assert not tp.resume_button.isEnabled() and not tp.cancel_button.isEnabled()
    assert f"cancelled at step {step}/40" == tp.progress_label.text() and wiz.button(CLOSE).text() == "Close"
    assert tp.use_checkpoint_button.text() == "Load this checkpoint into the main window" and next_enabled(wiz)
    model = load_model("timm:resnet10t", weights=wizard_weights)
    with torch.no_grad():  # the offered folder is an explainer
        maps, _ = load_explainer(ck, model).explain(torch.randn(1, 3, 32, 32))
    assert maps.shape == (1, 32, 32) and torch.isfinite(maps).all()
    click(qtbot, tp.use_checkpoint_button)
    done = wiz.currentPage()
    assert wiz.currentId() == PAGE_DONE and str(ck) in done.where.text() and "cancelled" in done.subTitle()
    qtbot.waitUntil(lambda: "Loaded" in done.use_status.text() or ":" in done.use_status.text(), timeout=60_000)
    assert "Loaded" in done.use_status.text(), done.use_status.text()
    assert win.models.loaded.explainer_path == str(ck) and win.models.explainer is not None
    wiz.close()
    # Opened again, the wizard does not train into the folder that holds the explainer in use.
    wiz = open_dialog(win)
    qtbot.waitExposed(wiz)
    qtbot.waitUntil(lambda: next_enabled(wiz), timeout=60_000)  # the remembered model is checked at once
    wiz.next()
    fill_data(qtbot, wiz, make_folder(tmp_path / "images"))
    wiz.next()
    sp = wiz.currentPage()
    assert wiz.vm.opts.out == sp.out.text() == str(tmp_path / "run-2")
    assert sp.out_note.isVisible() and "holds the explainer in use in the main window" in sp.out_note.text()
    assert ck.is_dir() and next_enabled(wiz)
    wiz.close()


def test_cancel_while_paused_ends_the_run_with_the_offer(qtbot, wiz, fake_trainer):
    (fake_trainer / "checkpoints" / "step_00000001" / "explainer.json").write_text("{}")
    o = wiz.vm.opts
    o.data, o.out, o.device = "imgs", str(fake_trainer), "cpu"
    page, t = wiz.page(PAGE_TRAINING), wiz.training
    t.start(o)
    qtbot.waitUntil(lambda: t.loss_steps == [1], timeout=20_000)
    page.pause_button.click()
    qtbot.waitUntil(lambda: t.state == "paused", timeout=20_000)
    assert page.cancel_button.isEnabled() and page.resume_button.isEnabled()
    page.cancel_button.click()  # nothing runs: the run ends at its checkpoint
    assert t.state == "cancelled" and t.checkpoint_dir == fake_trainer / "checkpoints" / "step_00000001"
    assert not page.offer.isHidden() and "step 1 of 4" in page.offer_label.text()
    assert page.use_checkpoint_button.text() == "Use this checkpoint"  # no main window to load it into
    assert not page.resume_button.isEnabled() and page.isComplete()


# -- The output folder -------------------------------------------------------------------------------------------------
def test_the_default_output_folder_avoids_a_kept_explainer(qtbot, wiz, wizard_weights, tmp_path):
    kept = tmp_path / "images-l2r-explainer"  # the folder the data page proposes, from an earlier run
    _explainer_folder(kept / "explainer")
    (kept / "checkpoints" / "step_00000004").mkdir(parents=True)
    (kept / "checkpoints" / "latest").write_text("step_00000004\n")
    (kept / "metrics.jsonl").write_text('{"event": "done", "step": 4, "total": 4, "time": 1}\n')
    (tmp_path / "images-l2r-explainer-2").mkdir()  # taken as well
    sp = _to_settings(qtbot, wiz, tmp_path, wizard_weights)
    fresh = tmp_path / "images-l2r-explainer-3"
    assert wiz.vm.opts.out == sp.out.text() == str(fresh) and next_enabled(wiz)
    assert sp.out_note.isVisible() and f"{kept} holds a trained explainer" in sp.out_note.text()
    assert str(fresh) in sp.out_note.text() and not sp.run_box.isVisible()
    # Choosing the kept folder again is possible, but replacing it needs an explicit choice.
    sp.out.edit.setText(str(kept))
    assert not sp.out_note.isVisible() and sp.run_box.isVisible()
    assert "a finished run (checkpoint at step 4 of 4) and a trained explainer" in sp.run_label.text()
    assert not sp.fresh_radio.isChecked() and sp.resume_radio.isHidden()
    _blocked_with(wiz, f"{kept} holds a trained explainer")
    assert sp.new_folder_button.text() == f"Use a new folder: {fresh.name}"
    click(qtbot, sp.new_folder_button)
    assert sp.out.text() == str(fresh) and next_enabled(wiz)
    sp.out.edit.setText(str(kept))
    click(qtbot, sp.fresh_radio)  # the explicit choice
    assert next_enabled(wiz) and not wiz.vm.opts.resume_existing
    assert (kept / "checkpoints" / "step_00000004").is_dir()  # nothing is deleted before the run starts
    # Back and Next again: the explicit choice stands.
    wiz.back()
    wiz.next()
    assert sp.out.text() == str(kept) and sp.fresh_radio.isChecked() and not sp.out_note.isVisible()


def test_kept_folders_and_fresh_names(tmp_path):
    run = tmp_path / "run"
    assert out_in_use(str(run)) == ""  # not there yet
    ck = _explainer_folder(run / "checkpoints" / "step_00000003")
    assert out_in_use(str(run)) == ""  # an interrupted run: resuming it is the default, nothing is replaced
    assert out_in_use(str(run), (str(ck),)) == "holds the explainer in use in the main window"
    assert out_in_use(str(run), (str(tmp_path / "elsewhere"),)) == ""
    _explainer_folder(run / "explainer")
    assert out_in_use(str(run)) == "holds a trained explainer"
    assert fresh_folder(run) == tmp_path / "run-2"
    (tmp_path / "run-2").mkdir()
    assert fresh_folder(run) == fresh_folder(tmp_path / "run-2") == tmp_path / "run-3"


# -- The time estimate -----------------------------------------------------------------------------------------------
def test_the_estimate_follows_steps_batch_image_size_and_time_limit(qtbot, wiz, fake_trainer):
    o = wiz.vm.opts
    o.data, o.out, o.device, o.length_unit, o.steps, o.batch_size = "imgs", str(fake_trainer), "cpu", "steps", 100, 4
    o.image_size = 64
    sp = wiz.page(PAGE_SETTINGS)
    sp.initializePage()
    assert sp.estimate_button.isEnabled() and sp.estimate_label.text() == ""
    with qtbot.waitSignal(wiz.training.estimated, timeout=5000):
        click(qtbot, sp.estimate_button)
    assert "Measuring 3 test steps" in sp.estimate_label.text() and not sp.estimate_button.isEnabled()
    qtbot.waitUntil(lambda: "s per step" in sp.estimate_label.text(), timeout=20_000)
    # The stand-in's log: 0.5 s per steady step at batch 4, 64 px: 0.125 s per image.
    first = sp.estimate_label.text()
    assert "0.50 s per step at batch 4, 64 px" in first and "0.125 s per image" in first
    assert "00:50 for 100 steps" in first
    qtbot.waitUntil(sp.estimate_button.isEnabled, timeout=10_000)  # the test run was stopped
    sp.steps.setValue(400)
    assert "03:20 for 400 steps" in sp.estimate_label.text()
    sp.batch_size.setValue(8)  # twice the images per step
    assert "1.00 s per step at batch 8" in sp.estimate_label.text() and "06:40 for 400 steps" in sp.estimate_label.text()
    sp.image_size.setValue(32)  # a quarter of the pixels
    assert "0.25 s per step at batch 8, 32 px" in sp.estimate_label.text()
    assert "01:40 for 400 steps" in sp.estimate_label.text()
    sp.max_minutes.setValue(1)  # 400 steps would take 100 s: the limit caps them
    assert "the 1 min time limit fits about 240 steps of the 400 asked for" in sp.estimate_label.text()
    sp.length_unit.setCurrentText("epochs")
    assert "the 1 min time limit fits about 240 steps." in sp.estimate_label.text()
    sp.max_minutes.setValue(0)
    sp.length_unit.setCurrentText("steps")
    assert "01:40 for 400 steps" in sp.estimate_label.text()
    sp.device.setCurrentText("auto")  # another device: the measurement no longer holds
    assert "estimate again" in sp.estimate_label.text()


def test_the_run_eta_follows_the_real_step_times(qtbot, wiz, fake_trainer):
    o = wiz.vm.opts
    o.data, o.out, o.device, o.length_unit, o.steps = "imgs", str(fake_trainer), "cpu", "steps", 20
    page, t = wiz.page(PAGE_TRAINING), wiz.training
    t.start(o)
    texts: list[str] = []
    t.progressChanged.connect(lambda step, total, text: texts.append(text))
    qtbot.waitUntil(lambda: t.step == 5, timeout=20_000)
    # The log's steps are 2 s apart (its own eta_s says 999 s): 15 steps left x 2 s = 30 s.
    assert t.seconds_per_step == pytest.approx(2.0) and t.eta_s == pytest.approx(30.0)
    assert "step 5/20" in page.progress_label.text() and "2.00 s/step  ETA 00:30" in page.progress_label.text()
    assert re.search(r"ETA (\d\d:\d\d)", texts[0]).group(1) == "16:39"  # one step only: the trainer's own ETA


def test_step_time_median_ignores_a_slow_step_and_gaps():
    times = [(1, 0.0), (2, 1.0), (3, 2.0), (4, 12.0), (5, 13.0), (7, 15.0)]  # step 4 validated; 6 not logged
    assert step_seconds(times) == pytest.approx(1.0)
    assert run_eta(times, 7, 10, fallback=99.0) == pytest.approx((1.0, 3.0))
    assert run_eta(times[:1], 1, 10, fallback=99.0)[1] == 99.0
