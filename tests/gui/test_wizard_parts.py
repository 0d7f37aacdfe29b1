"""The wizard's parts, fast: invalid inputs keep Next disabled with a visible reason on every page,
the command line it builds means what the pages say, the metrics-log follower, and Pause / failure
handling against a stand-in trainer (a few lines of Python instead of `l2r train`)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox

from l2r_desktop.wizard import FineTuneWizard, process
from l2r_desktop.wizard.dialog import PAGE_DATA, PAGE_MODEL, PAGE_SETTINGS, PAGE_TRAINING
from l2r_desktop.wizard.options import WizardOptions, advanced_defaults, train_args
from l2r_desktop.wizard.process import LogFollower
from l2r_training.config import TrainConfig

from .test_wizard_support import wiz, NEXT, fake_trainer, make_folder, next_enabled, wizard_weights  # noqa: F401

pytestmark = pytest.mark.gui


def _blocked(wiz, text: str) -> None:
    """Next is disabled and the page says why, visibly."""
    page = wiz.currentPage()
    assert not wiz.button(NEXT).isEnabled() and not page.isComplete()
    assert page.reason_label.isVisible() and text in page.reason_label.text(), page.reason_label.text()


def test_invalid_inputs_keep_next_disabled_with_a_reason(qtbot, wiz, wizard_weights, tmp_path):
    page = wiz.currentPage()
    assert wiz.currentId() == PAGE_MODEL
    _blocked(wiz, "Type the timm architecture name")
    page.arch.setText("resnet 10t")
    _blocked(wiz, "is not a timm architecture name")
    page.arch.setText("resnet10t")
    _blocked(wiz, "Choose the weights file")
    page.weights.edit.setText(str(tmp_path / "missing.safetensors"))
    _blocked(wiz, "does not exist")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    page.weights.edit.setText(str(broken))
    _blocked(wiz, "Press 'Load and check'")
    page.check_button.click()
    qtbot.waitUntil(lambda: not wiz.vm.busy["model"], timeout=30_000)
    _blocked(wiz, "Cannot load model")
    page.weights.edit.setText(str(wizard_weights))
    page.check_button.click()
    qtbot.waitUntil(lambda: next_enabled(wiz), timeout=30_000)
    assert not page.reason_label.isVisible()
    wiz.next()
    assert wiz.currentId() == PAGE_DATA
    data = wiz.currentPage()
    data.folder.edit.setText(str(tmp_path / "nowhere"))
    _blocked(wiz, "is not a folder")
    (tmp_path / "empty").mkdir()
    data.folder.edit.setText(str(tmp_path / "empty"))
    qtbot.waitUntil(lambda: "No images in" in data.reason_label.text(), timeout=10_000)
    _blocked(wiz, "No images in")
    make_folder(tmp_path / "one", n=1)
    data.folder.edit.setText(str(tmp_path / "one"))
    qtbot.waitUntil(lambda: "Too few images" in data.reason_label.text(), timeout=10_000)
    data.val_percent.setValue(0)
    assert next_enabled(wiz) and "1 images: 1 for training, 0 for validation" in data.summary.text()
    wiz.next()  # proposes an output folder next to the images
    assert wiz.currentId() == PAGE_SETTINGS and wiz.vm.opts.out == str(tmp_path / "one-l2r-explainer")
    sp = wiz.currentPage()
    assert next_enabled(wiz)
    sp.out.edit.setText("")
    _blocked(wiz, "Choose an output folder")
    (tmp_path / "file").write_text("x")
    sp.out.edit.setText(str(tmp_path / "file"))
    _blocked(wiz, "is a file")
    sp.out.edit.setText(str(tmp_path / "out"))
    sp.lr.setText("fast")
    _blocked(wiz, "learning rate")
    sp.lr.setText("3e-4")
    sp.advanced.editors["loss.grid_min"].setValue(30)
    _blocked(wiz, "smallest ranking grid")
    sp.advanced.restore_defaults()
    for box in sp.advanced.editors["loss.references"].findChildren(QCheckBox):
        box.setChecked(False)
    _blocked(wiz, "Tick at least one reference")
    sp.advanced.restore_defaults()
    sp.advanced.editors["loss.threshold_temperature"].setValue(0.0)
    _blocked(wiz, "threshold temperature must be above 0")
    sp.advanced.restore_defaults()
    sp.advanced.editors["explainer.class_evidence"].setChecked(True)
    _blocked(wiz, "evidence map needs the classifier class embedding")
    sp.advanced.restore_defaults()
    sp.advanced.extra.edit.setText(str(tmp_path / "nope.json"))
    _blocked(wiz, "extra config file")
    sp.advanced.extra.edit.setText("")
    assert next_enabled(wiz) and not sp.reason_label.isVisible()


def test_advanced_defaults_come_from_train_config(qtbot, wiz):
    cfg = TrainConfig()
    adv = advanced_defaults()
    assert (adv["loss.grid_min"], adv["loss.grid_max"]) == (cfg.loss.grid_min, cfg.loss.grid_max) == (7, 28)
    assert (adv["loss.tau_start"], adv["loss.tau_end"], adv["loss.n_iters"]) == (1.0, 0.3, 30)
    assert adv["loss.n_percentiles"] == 16 and adv["loss.references"] == ["black", "mean", "blur"]
    assert (adv["loss.w_del"], adv["loss.w_ins"], adv["loss.w_peak"]) == (1.0, 1.0, 0.0025)
    assert (adv["loss.ranking"], adv["explainer.class_source"], adv["second_target"]) == ("full", "table", "runner-up")
    assert adv["loss.threshold_temperature"] == cfg.loss.threshold_temperature == 0.1
    assert adv["explainer.class_evidence"] is False
    sec = wiz.page(PAGE_SETTINGS).advanced  # the settings page shows the same values
    sec.load()
    boxes = sec.editors["loss.references"].findChildren(QCheckBox)
    assert [b.text() for b in boxes if b.isChecked()] == ["black", "mean", "blur"]
    assert wiz.vm.opts.advanced["loss.references"] == ["black", "mean", "blur"]  # showing them changes nothing
    assert sec.editors["loss.grid_max"].value() == 28 and sec.editors["loss.w_peak"].value() == pytest.approx(0.0025)
    opts = WizardOptions()
    assert (opts.batch_size, opts.lr, opts.epochs, opts.length_unit) == (cfg.batch_size, cfg.lr, cfg.epochs, "epochs")


def test_the_variant_choices_reach_the_options_and_the_temperature_follows_the_ranking(qtbot, wiz):
    adv = wiz.page(PAGE_SETTINGS).advanced
    adv.load()
    temperature, ranking = adv.editors["loss.threshold_temperature"], adv.editors["loss.ranking"]
    assert [ranking.itemText(i) for i in range(ranking.count())] == ["full", "buckets", "threshold"]
    assert ranking.currentText() == "full" and not temperature.isEnabled()
    ranking.setCurrentText("threshold")
    adv.editors["explainer.class_source"].setCurrentText("classifier")
    adv.editors["explainer.class_evidence"].setChecked(True)
    assert temperature.isEnabled() and wiz.vm.opts.advanced["explainer.class_evidence"] is True
    assert (wiz.vm.opts.advanced["loss.ranking"], wiz.vm.opts.advanced["explainer.class_source"]) == (
        "threshold", "classifier")
    args = train_args(wiz.vm.opts)
    assert args[args.index("--ranking") + 1] == "threshold" and args[args.index("--class-source") + 1] == "classifier"
    assert "--class-evidence" in args
    assert "--second-target" not in args  # left at its default
    adv.restore_defaults()
    assert ranking.currentText() == "full" and not temperature.isEnabled()
    assert wiz.vm.opts.advanced["loss.ranking"] == "full" and not adv.editors["explainer.class_evidence"].isChecked()


def test_the_command_line_means_what_the_pages_say(tmp_path):
    """The arguments parse with the real `l2r train` parser into the intended TrainConfig."""
    import argparse

    from l2r_training.cli.train import add_train_parser, resolve_args

    o = WizardOptions(arch="resnet10t", weights="w.safetensors", data=str(tmp_path / "img"), out=str(tmp_path / "o"),
                      image_size=48, length_unit="steps", steps=7, batch_size=3, lr=0.002, device="cpu",
                      val_percent=20.0, val_every=2)
    o.advanced.update({"loss.grid_max": 12, "loss.references": ["black", "blur"], "loss.w_peak": 0.01})
    args = train_args(o, overwrite=True)
    assert "--grid-min" not in args and "--overwrite" in args  # defaults are left to the config file
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    cfg, resume = resolve_args(parser.parse_args(args))
    assert resume is None and cfg.model == "timm:resnet10t" and cfg.weights == "w.safetensors"
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.device, cfg.image_size) == (7, 3, 0.002, "cpu", 48)
    assert (cfg.val_fraction, cfg.val_every, cfg.out) == (0.2, 2, str(tmp_path / "o"))
    assert (cfg.loss.grid_min, cfg.loss.grid_max, cfg.loss.w_peak) == (7, 12, 0.01)
    assert cfg.loss.references == ("black", "blur")
    assert (cfg.loss.ranking, cfg.explainer, cfg.second_target) == ("full", {}, "runner-up")
    # The method's variants reach the trainer as their own flags.
    o.advanced.update({"loss.ranking": "threshold", "loss.threshold_temperature": 0.2,
                       "explainer.class_source": "classifier", "explainer.class_evidence": True,
                       "second_target": "spread"})
    variant, _ = resolve_args(parser.parse_args(train_args(o)))
    assert (variant.loss.ranking, variant.loss.threshold_temperature) == ("threshold", 0.2)
    assert variant.explainer == {"class_source": "classifier", "class_evidence": True}
    assert variant.second_target == "spread"
    o.advanced = advanced_defaults()
    # The estimate's one step: same settings, a temporary folder, no validation on the way.
    probe, _ = resolve_args(parser.parse_args(train_args(o, out=str(tmp_path / "t"), steps=1, val_every=0)))
    assert (probe.steps, probe.val_every, probe.out, probe.batch_size) == (1, 0, str(tmp_path / "t"), 3)
    # A time limit: the budget alone sets the length in epochs mode, caps it in steps mode; the
    # estimate's one step ignores it.
    o.max_minutes, o.threads, o.length_unit = 20, 1, "epochs"
    cfg, _ = resolve_args(parser.parse_args(train_args(o)))
    assert (cfg.max_time, cfg.steps, cfg.threads) == (1200.0, 0, 1)
    o.length_unit = "steps"
    cfg, _ = resolve_args(parser.parse_args(train_args(o)))
    assert (cfg.max_time, cfg.steps) == (1200.0, 7)
    probe, _ = resolve_args(parser.parse_args(train_args(o, out=str(tmp_path / "t"), steps=1, val_every=0)))
    assert probe.max_time is None and probe.steps == 1


def test_log_follower_reads_whole_lines_and_survives_truncation(qtbot, tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"event": "start", "time": 5}\n{"event": "step", "ti')
    got: list[dict] = []
    f = LogFollower()
    f.record.connect(got.append)
    f.start(log, since=0)
    f.poll()
    assert [r["event"] for r in got] == ["start"]  # the half-written line waits
    with open(log, "a") as fh:
        fh.write('me": 6, "loss": 0.5}\n')
    f.poll()
    assert got[-1] == {"event": "step", "time": 6, "loss": 0.5}
    log.write_text('{"event": "start", "time": 1}\n{"event": "start", "time": 100}\n')  # a new, shorter log
    f.start(log, since=50)  # a fresh run skips what was written before it began
    f.stop()
    assert got[-1]["time"] == 100 and len(got) == 3


def test_pause_then_resume_with_a_stand_in_trainer(qtbot, wiz, fake_trainer):
    o = wiz.vm.opts
    o.data, o.out, o.device = "imgs", str(fake_trainer), "cpu"
    page, t = wiz.page(PAGE_TRAINING), wiz.training
    t.start(o)
    qtbot.waitUntil(lambda: t.loss_steps == [1], timeout=20_000)
    assert t.state == "running" and page.pause_button.isEnabled() and not page.resume_button.isEnabled()
    assert "step 1/4" in page.progress_label.text() and "ETA 00:30" in page.progress_label.text()
    page.pause_button.click()
    qtbot.waitUntil(lambda: t.state == "paused", timeout=20_000)
    assert page.resume_button.isEnabled() and "Paused: checkpoint at step 1" in page.status.text()
    page.resume_button.click()
    qtbot.waitUntil(lambda: t.state == "done", timeout=20_000)
    assert t.loss_steps == [1, 2, 3, 4] and t.val_steps == [] and page.isComplete()
    assert t.explainer_dir == fake_trainer / "explainer" and t.final["ins_auc"] == 0.7
    assert page.bar.value() == page.bar.maximum() == 4


def test_a_failed_run_shows_its_cause(qtbot, wiz, fake_trainer):
    o = wiz.vm.opts
    o.data, o.out, o.device, o.extra_config = "imgs", str(fake_trainer), "cpu", ""
    page, t = wiz.page(PAGE_TRAINING), wiz.training
    failures: list[tuple[str, str]] = []
    t.failed.connect(lambda cause, tail: failures.append((cause, tail)))
    o.batch_size = 13  # the stand-in trainer refuses it like `l2r train` refuses a user error
    t.start(o)
    qtbot.waitUntil(lambda: t.state == "failed", timeout=20_000)
    assert failures and failures[-1][0] == "images: no images found. Fix it."
    assert "l2r: error: images: no images found" in page.details.toPlainText() and not page.details.isHidden()
    assert "Training failed: images: no images found" in page.status.text()
    assert t.outcome is not None and t.outcome.exit_code == 2
    assert page.resume_button.isEnabled()  # the folder's earlier checkpoint can still be resumed


def test_closing_the_main_window_stops_the_run_with_a_checkpoint(qtbot, window_factory, fake_trainer):
    """The wizard closes with its window; the trainer gets SIGTERM and logs "interrupted" first."""
    from l2r_desktop.wizard import open_dialog

    win = window_factory()
    wiz = open_dialog(win)
    qtbot.waitExposed(wiz)
    o = wiz.vm.opts
    o.data, o.out, o.device = "imgs", str(fake_trainer), "cpu"
    t = wiz.training
    t.start(o)
    qtbot.waitUntil(lambda: t.loss_steps == [1], timeout=20_000)
    pid = t.process.pid()
    win.close()
    assert not t.process.running() and wiz.closed and t.state == "cancelled"
    assert (fake_trainer / "metrics.jsonl").read_text().splitlines()[-1].startswith('{"event": "interrupted"')
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_finished_run_waits_for_an_explicit_choice(qtbot, wiz, tmp_path):
    """Typing the folder of a finished run never deletes it by default: Start afresh must be ticked."""
    out = tmp_path / "done"
    (out / "checkpoints" / "step_00000004").mkdir(parents=True)
    (out / "checkpoints" / "latest").write_text("step_00000004\n")
    (out / "explainer").mkdir()
    (out / "explainer" / "explainer.json").write_text("{}")
    steps = "".join(f'{{"event": "step", "step": {i}, "total": 4, "time": 1}}\n' for i in range(5000))
    (out / "metrics.jsonl").write_text(steps + '{"event": "done", "step": 4, "total": 4, "time": 1}\n')
    sp = wiz.page(PAGE_SETTINGS)
    sp.out.edit.setText(str(out))
    assert "a finished run (checkpoint at step 4 of 4) and a trained explainer" in sp.run_label.text()
    assert not sp.fresh_radio.isChecked() and not sp.resume_radio.isChecked() and sp.resume_radio.isHidden()
    assert "holds a trained explainer" in wiz.vm.settings_reason() and "Start afresh here" in wiz.vm.settings_reason()
    sp.fresh_radio.click()
    assert wiz.vm.replace_ok == str(out) and not wiz.vm.out_reason() and not wiz.vm.opts.resume_existing


def test_estimate_measures_test_steps_and_projects_the_run(qtbot, wiz, fake_trainer, tmp_path):
    o = wiz.vm.opts
    o.data, o.out, o.device, o.length_unit, o.steps = "imgs", str(fake_trainer), "cpu", "steps", 500
    sp, t = wiz.page(PAGE_SETTINGS), wiz.training
    texts: list[tuple[float, str]] = []
    t.estimated.connect(lambda s, text: texts.append((s, text)))
    sp.estimate()
    probe_dir = t._probe_dir
    assert probe_dir is not None and probe_dir.is_dir()
    qtbot.waitUntil(lambda: "s per step" in sp.estimate_label.text(), timeout=20_000)
    seconds = texts[-1][0]  # the stand-in's log: 1 s to the first step (warm-up), then 0.5 s per step
    assert seconds == pytest.approx(0.5) and t.timing is not None and t.timing.first_step_s == pytest.approx(1.0)
    assert "0.50 s per step" in sp.estimate_label.text() and "04:10 for 500 steps" in sp.estimate_label.text()
    qtbot.waitUntil(lambda: not probe_dir.exists(), timeout=10_000)  # killed and cleaned up
    assert t.state == "idle" and not (fake_trainer / "metrics.jsonl").exists()  # the real run is untouched


def test_frozen_app_runs_the_trainer_through_its_cli_entry(monkeypatch, tmp_path):
    import subprocess

    assert process.train_command(["train", "--help"])[1][:2] == ["-m", "l2r_training.cli"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    program, args = process.train_command(["train", "--help"])
    assert program == sys.executable and args == ["--cli", "train", "--help"]
    # the frozen build's launcher understands --cli (run here with plain Python)
    launcher = Path(__file__).resolve().parents[2] / "packaging" / "launcher.py"
    proc = subprocess.run([sys.executable, str(launcher), "--cli", "train", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "--batch-size" in proc.stdout, proc.stderr


def test_settings_page_offers_a_time_limit_and_says_how_many_threads(qtbot, wiz, monkeypatch):
    from l2r_desktop.wizard import page_settings
    from l2r_desktop.wizard.options import training_threads

    monkeypatch.setattr(page_settings, "_cuda_available", lambda: False)
    page = wiz.page(PAGE_SETTINGS)
    page.initializePage()
    wiz.vm.update(device="cpu")
    cores = training_threads(0)
    assert page.threads.specialValueText() == f"all cores ({cores})"
    assert page.threads_label.text().startswith(f"training uses {cores} CPU thread")
    page.max_minutes.setValue(20)  # as typed by the user
    page.threads.setValue(1)
    assert (wiz.vm.opts.max_minutes, wiz.vm.opts.threads) == (20, 1)
    assert page.threads_label.text() == "training uses 1 CPU thread"
    assert page.max_minutes.minimum() == 0 and page.max_minutes.specialValueText() == "no limit"


def test_a_reduced_size_run_shows_validation_at_the_models_own_size(qtbot) -> None:
    from l2r_desktop.wizard.training_vm import TrainingViewModel, validation_scores

    vm = TrainingViewModel()
    with qtbot.waitSignal(vm.valChanged) as plain:
        vm.process.record.emit({"event": "val", "step": 10, "total": 20, "del_auc": 0.3, "ins_auc": 0.5})
    assert plain.args == [[10], [0.3], [0.5]]
    reduced = {"event": "val", "step": 20, "total": 20, "del_auc": 0.3, "ins_auc": 0.5,
               "native_del_auc": 0.2, "native_ins_auc": 0.6, "native_size": [224, 224]}
    with qtbot.waitSignal(vm.valChanged) as native:
        vm.process.record.emit(reduced)
    assert native.args == [[10, 20], [0.3, 0.2], [0.5, 0.6]]  # the curve follows the size the explainer is used at
    assert validation_scores(reduced) == (0.2, 0.6, "at the model's own 224 px")
    assert validation_scores({"del_auc": 0.3, "ins_auc": 0.5}) == (0.3, 0.5, "")
