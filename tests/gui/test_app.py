"""The entry point: --self-test and --screenshot run unattended and exit with a status."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from l2r_desktop import app as app_module
from l2r_desktop.viewmodels.model import ModelViewModel

pytestmark = pytest.mark.gui


@pytest.fixture
def tiny_demo(monkeypatch: pytest.MonkeyPatch, tiny_loaded) -> None:
    """The demo start-up with the tiny model instead of EfficientNet-Lite0 (speed)."""
    monkeypatch.setattr(ModelViewModel, "load_demo", lambda self, origin="": self.set_loaded(tiny_loaded))


def test_self_test_explains_one_image_and_exits_0(qtbot, tiny_demo, image_folder, tmp_path, capsys):
    code = app_module.main(["--self-test", "--settings", str(tmp_path / "s.ini"), str(image_folder)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "self-test ok" in out and "maps ['gradcam']" in out and "Grad-CAM: AUC" in out


def test_screenshot_saves_the_window_after_the_first_explanation(qtbot, tiny_demo, image_folder, tmp_path, capsys):
    target = tmp_path / "shot.png"
    code = app_module.main(["--screenshot", str(target), "--size", "900x700", "--methods", "gradcam",
                            "--settings", str(tmp_path / "s.ini"), str(image_folder)])
    assert code == 0, capsys.readouterr().out
    img = QImage(str(target))
    assert (img.width(), img.height()) == (900, 700)


def test_module_entry_point_has_help() -> None:
    r = subprocess.run([sys.executable, "-m", "l2r_desktop", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--self-test" in r.stdout and "--screenshot" in r.stdout


def test_packaged_samples_are_small_and_licensed() -> None:
    from l2r_resources import resource_path

    folder = resource_path("samples")
    photos = sorted(folder.glob("*.jpg"))
    assert len(photos) >= 3
    licenses = (folder / "LICENSES.md").read_text(encoding="utf-8")
    for p in photos:
        assert p.stat().st_size <= 100_000 and p.name in licenses
    assert "CC0" in licenses and "public domain" in licenses
