"""GUI test fixtures: a tiny model, small images, temporary settings, recorded dialogs, and a window
factory that owns teardown (closes every window, fails on leaked top-level widgets or threads)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QApplication  # noqa: E402

from l2r_core.models.preprocessing import Preprocessing  # noqa: E402
from l2r_core.models.timm_adapter import TimmAdapter  # noqa: E402
from l2r_desktop import dialogs  # noqa: E402
from l2r_desktop.jobs import LoadedModel  # noqa: E402
from l2r_desktop.settings import AppSettings  # noqa: E402

SIZE = 32
CLASSES = ["cat", "dog", "car", "ship", "tree", "cup", "bird"]


def make_tiny_model(seed: int = 0) -> TimmAdapter:
    """timm resnet10t with random weights, 7 classes, 32x32 inputs (whole image squashed)."""
    import timm

    torch.manual_seed(seed)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=len(CLASSES))
    pre = Preprocessing(input_size=(SIZE, SIZE), resize="squash", interpolation="bilinear")
    return TimmAdapter(net, "resnet10t", pre, CLASSES, f"tiny-{seed}", "test")


@pytest.fixture(scope="session")
def tiny_model() -> TimmAdapter:
    return make_tiny_model()


@pytest.fixture
def tiny_loaded(tiny_model: TimmAdapter) -> LoadedModel:
    return LoadedModel(tiny_model, "test:resnet10t")


def write_image(path: Path, seed: int, size: tuple[int, int] = (48, 40)) -> Path:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * (3 + seed)) % 256, (yy * (5 + seed)) % 256, ((xx + yy) * 7) % 256], -1)
    noise = rng.integers(0, 60, size=(h, w, 3))
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        write_image(folder / f"img_{i}.png", i)
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(tmp_path / "settings.ini")


class DialogLog:
    """Records every dialog the window asks for; tests set answers for file questions."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.infos: list[tuple[str, str]] = []
        self.open_images: list[str] = []
        self.open_folder = ""
        self.open_file = ""
        self.save_file = ""
        self.run: Callable[[Any], int] | None = None

    def titles(self) -> list[str]:
        return [t for t, _ in self.errors]


@pytest.fixture(autouse=True)
def dialog_log(monkeypatch: pytest.MonkeyPatch) -> DialogLog:
    """No real modal dialog ever opens in a test: each one is recorded or answered here."""
    log = DialogLog()
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, message, details="": log.errors.append((title, message)))
    monkeypatch.setattr(dialogs, "show_info", lambda parent, title, message: log.infos.append((title, message)))
    monkeypatch.setattr(dialogs, "ask_open_images", lambda parent, start="": list(log.open_images))
    monkeypatch.setattr(dialogs, "ask_open_folder", lambda parent, start="", title="": log.open_folder)
    monkeypatch.setattr(dialogs, "ask_open_file", lambda parent, title, start="", filter="": log.open_file)
    monkeypatch.setattr(dialogs, "ask_save_file", lambda parent, title, start="", filter="": log.save_file)

    def run(dialog: Any) -> int:
        if log.run is None:
            raise AssertionError(f"unexpected modal dialog {type(dialog).__name__}")
        try:
            return log.run(dialog)
        finally:
            dialog.close()
            dialog.deleteLater()

    monkeypatch.setattr(dialogs, "run_dialog", run)
    return log


@pytest.fixture
def window_factory(qtbot: Any, settings: AppSettings, tiny_loaded: LoadedModel) -> Iterator[Callable[..., Any]]:
    """``make(model=tiny, paths=None)`` -> a shown MainWindow with the tiny model installed."""
    from l2r_desktop.main_window import MainWindow

    app = QApplication.instance()
    before = {id(w) for w in app.topLevelWidgets() if w.isVisible()}
    windows: list[MainWindow] = []

    def make(model: LoadedModel | None = tiny_loaded, paths: list[str] | None = None,
             settings_: AppSettings | None = None) -> MainWindow:
        win = MainWindow(settings_ or settings)
        windows.append(win)
        win.show()
        win.activateWindow()  # shortcuts (Left/Right, H) go to the active window
        qtbot.waitUntil(win.isActiveWindow, timeout=5000)
        if model is not None:
            win.models.set_loaded(model)
        if paths:
            win.open_paths(paths)
        return win

    yield make
    for win in windows:
        if win.isVisible():
            win.close()
        assert not win.runner.thread_running(), "the worker thread is still running after close"
        win.deleteLater()
    app.processEvents()
    leaked = [w for w in app.topLevelWidgets() if w.isVisible() and id(w) not in before]
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"


def wait_explained(qtbot: Any, win: Any, timeout: int = 30000) -> None:
    """Wait until the running explanation has finished (all shown methods have curves)."""
    def done() -> None:
        assert not win.runner.busy
        keys = win.explain.shown_methods()
        assert keys and all(k in win.explain.results and win.explain.results[k].curves is not None for k in keys)

    qtbot.waitUntil(done, timeout=timeout)
