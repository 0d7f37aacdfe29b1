"""Shared set-up of the wizard tests (no tests here): a 3-class resnet10t saved as .safetensors, a tiny image folder,
a config file that makes one training step cheap, page-driving helpers, a stand-in trainer (a few lines of Python
instead of `l2r train`, with known step times) and the real trainer with slowed-down steps (so that Pause and Cancel
always land mid-run, however loaded the machine)."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

NEXT = QWizard.WizardButton.NextButton
BACK = QWizard.WizardButton.BackButton
CLOSE = QWizard.WizardButton.CancelButton
LONG = 180_000  # ms: child processes import torch + timm (seconds each on a loaded box)


@pytest.fixture(scope="session")
def wizard_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=3)
    path = tmp_path_factory.mktemp("wizard_model") / "resnet10t.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def make_folder(root: Path, n: int = 8, size: int = 36) -> Path:
    """n random PNGs in two class folders (ImageFolder layout)."""
    rng = np.random.default_rng(1)
    for i in range(n):
        folder = root / ("ants" if i % 2 else "bees")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size + 4 * (i % 2), 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def tiny_config(path: Path) -> Path:
    """Settings the wizard does not show, given as its extra config file: a small decoder and a
    small blur kernel so that a step takes a fraction of a second on one CPU thread."""
    path.write_text(json.dumps({
        "explainer": {"stage_channels": 8, "fusion_channels": 8, "head_channels": 4, "embed_dim": 8},
        "loss": {"blur_size": 5, "blur_sigma": 2.0, "peak_window": 3},
        "loader_threads": 1, "val_max_images": 2, "augment": "none",
    }), encoding="utf-8")
    return path


def click(qtbot: Any, button: Any) -> None:
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def next_enabled(wiz: Any) -> bool:
    return bool(wiz.button(NEXT).isEnabled() and wiz.currentPage().isComplete())


def fill_model(qtbot: Any, wiz: Any, weights: Path) -> Any:
    page = wiz.currentPage()
    page.kind.setCurrentIndex(page.kind.findData("timm"))
    page.arch.setText("resnet10t")
    page.weights.edit.setText(str(weights))
    click(qtbot, page.check_button)
    qtbot.waitUntil(lambda: next_enabled(wiz), timeout=60_000)
    return page


def fill_data(qtbot: Any, wiz: Any, folder: Path, val_percent: float = 25.0) -> Any:
    page = wiz.currentPage()
    page.val_percent.setValue(val_percent)
    page.folder.edit.setText(str(folder))
    qtbot.waitUntil(lambda: next_enabled(wiz) and len(page.thumbs) > 0, timeout=30_000)
    return page


def fill_settings(wiz: Any, out: Path, config: Path, steps: int, val_every: int) -> Any:
    page = wiz.currentPage()
    page.image_size.setValue(32)
    page.length_unit.setCurrentText("steps")
    page.steps.setValue(steps)
    page.batch_size.setValue(2)
    page.lr.setText("0.001")
    page.device.setCurrentText("cpu")
    page.val_every.setValue(val_every)
    page.out.edit.setText(str(out))
    adv = page.advanced
    adv.set_expanded(True)
    adv.editors["loss.grid_max"].setValue(6)  # grids 3..6 and 5 Sinkhorn iterations: quick steps
    adv.editors["loss.grid_min"].setValue(3)
    adv.editors["loss.n_iters"].setValue(5)
    adv.editors["loss.n_percentiles"].setValue(4)
    adv.extra.edit.setText(str(config))
    return page


FAKE_TRAINER = textwrap.dedent("""
    import json, signal, sys, time
    args = sys.argv[1:]
    def arg(flag, default=None):
        return args[args.index(flag) + 1] if flag in args else default
    out = arg("--out") or arg("--resume")
    log = open(out + "/metrics.jsonl", "a")
    T0 = time.time()
    def write(event, step, total=4, at=None, **kw):
        rec = dict(event=event, step=step, total=total, time=time.time() if at is None else at, **kw)
        log.write(json.dumps(rec) + "\\n"); log.flush()
    if arg("--batch-size") == "13":
        print("l2r: error: " + "images: no images found. Fix it.", file=sys.stderr); sys.exit(2)
    def stop(*_):
        write("interrupted", 1); sys.exit(130)
    signal.signal(signal.SIGTERM, stop)
    steps = int(arg("--steps", "0"))
    if 0 < steps <= 5:  # the wizard's test steps, in the log's clock: 1 s to the first, then 0.5 s each
        write("start", 0, steps, at=T0)
        for s in range(1, steps + 1):
            write("step", s, steps, at=T0 + 0.5 + 0.5 * s, loss=1.0, eta_s=None)
        while True:
            time.sleep(0.05)
    write("start", 0, n_train=3, n_val=1, device="cpu")
    time.sleep(0.2)
    if "--resume" in args:
        for s in (2, 3, 4):
            write("step", s, loss=1.0 / s, eta_s=4 - s)
        write("done", 4, explainer=out + "/explainer", del_auc=0.2, ins_auc=0.7)
        sys.exit(0)
    if steps == 20:  # known step times: 2 s each in the log's clock (its own eta_s is off on purpose)
        for s in range(1, 6):
            write("step", s, 20, at=T0 + 2.0 * s, loss=1.0 / s, eta_s=999)
    else:
        write("step", 1, loss=0.9, eta_s=30)
    while True:
        time.sleep(0.05)
""")

SLOW_TRAINER = textwrap.dedent("""
    import sys, time
    import l2r_training.loop as loop
    DELAY = float(sys.argv.pop(1))
    step = loop.train_step
    def slow(s, n):
        time.sleep(DELAY)
        return step(s, n)
    loop.train_step = slow
    from l2r_training.cli import main
    sys.exit(main())
""")


@pytest.fixture
def fake_trainer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The stand-in trainer runs instead of `l2r train`; returns an output folder with a step-1 checkpoint."""
    from l2r_desktop.wizard import process

    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    monkeypatch.setattr(process, "train_command", lambda args: (sys.executable, [str(script), *args]))
    out = tmp_path / "out"
    (out / "checkpoints" / "step_00000001").mkdir(parents=True)
    (out / "checkpoints" / "latest").write_text("step_00000001\n")
    return out


@pytest.fixture
def slow_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> float:
    """The real `l2r train`, each step delayed by the returned seconds."""
    from l2r_desktop.wizard import process

    delay = 0.5
    script = tmp_path / "slow_trainer.py"
    script.write_text(SLOW_TRAINER)
    monkeypatch.setattr(process, "train_command", lambda args: (sys.executable, [str(script), str(delay), *args]))
    return delay


@pytest.fixture
def wiz(qtbot: Any, settings: Any) -> Any:
    """A shown fine-tune wizard with no model preset."""
    from l2r_desktop.wizard import FineTuneWizard

    w = FineTuneWizard(settings, None, "")
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
