"""Large images in the desktop app: a 144 MP PNG is explained, a panorama gets a thumbnail of the
strip's size, a bomb is refused with the same message as on the command line, and the
images/max_pixels setting moves the limit."""
from __future__ import annotations

from typing import Iterator

import pytest
from PySide6.QtCore import QSize

from l2r_core.images import LIMIT_SETTING, MAX_PIXELS, get_max_pixels, set_max_pixels
from l2r_desktop.settings import AppSettings
from l2r_desktop.widgets.thumbnails import THUMB, thumbnail_image

from ..core.test_large_images import bomb_png, striped_png
from .conftest import wait_explained, write_image

pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore:.*downscaled to:UserWarning")]


@pytest.fixture(autouse=True)
def default_limit() -> Iterator[None]:
    """Windows set the process-wide limit from their settings: every test ends on the default."""
    yield
    set_max_pixels(None)


def icon_size(win, row: int) -> QSize:
    return win.thumbnails.item(row).icon().pixmap(QSize(THUMB, THUMB)).size()


@pytest.mark.slow
def test_a_144_megapixel_png_is_explained_and_gets_a_thumbnail(window_factory, qtbot, tmp_path, dialog_log):
    big = striped_png(tmp_path / "big_144mp.png", 12000, 12000)
    win = window_factory(paths=[str(big)])
    wait_explained(qtbot, win, timeout=60000)
    qtbot.waitUntil(lambda: not win.thumbnails._pending, timeout=30000)
    assert win.explain.image.path == big and win.map_area.currentWidget() is win.heatmap
    assert dialog_log.errors == [] and win.thumbnails.unreadable == set()
    assert icon_size(win, 0) == QSize(THUMB, THUMB)


def test_a_panorama_gets_a_letterboxed_thumbnail_of_the_strip_size(window_factory, qtbot, tmp_path):
    wide = striped_png(tmp_path / "panorama.png", 30000, 200, band=100)
    img, why = thumbnail_image(wide)
    assert why == "" and img.size() == QSize(THUMB, THUMB)
    # the picture is a band across the middle, transparent above and below
    assert img.pixelColor(THUMB // 2, THUMB // 2).alpha() == 255 and img.pixelColor(THUMB // 2, 2).alpha() == 0
    win = window_factory(paths=[str(wide)])
    qtbot.waitUntil(lambda: not win.thumbnails._pending, timeout=10000)
    wait_explained(qtbot, win)
    assert win.thumbnails.unreadable == set() and icon_size(win, 0) == QSize(THUMB, THUMB)


def test_a_bomb_is_refused_with_the_message_of_the_command_line(window_factory, qtbot, tmp_path, dialog_log):
    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "a_photo.png", 0)
    bomb = bomb_png(folder / "b_bomb.png")
    win = window_factory(paths=[str(folder)])
    wait_explained(qtbot, win)
    qtbot.waitUntil(lambda: 1 in win.thumbnails.unreadable, timeout=10000)
    tip = win.thumbnails.item(1).toolTip()
    assert "100000x100000" in tip and "--max-pixels 10000M" in tip and "images/max_pixels" in tip
    win.images.select(1)
    qtbot.waitUntil(lambda: win.map_area.currentWidget() is win.map_message, timeout=10000)
    text = win.map_message.text()
    assert "b_bomb.png" in text and "over the limit of 300 MP per image" in text and "images/max_pixels" in text
    assert dialog_log.errors == []
    assert bomb.stat().st_size < 200


def test_the_setting_lowers_and_raises_the_limit(window_factory, qtbot, tmp_path, image_folder):
    settings = AppSettings(tmp_path / "low.ini")
    settings.set(LIMIT_SETTING, "1k")  # the INI file may say 1k, 300M, 1e9
    assert settings.get(LIMIT_SETTING) == 1000
    win = window_factory(paths=[str(image_folder)], settings_=settings)
    assert get_max_pixels() == 1000 and win.images.max_pixels() == 1000
    qtbot.waitUntil(lambda: win.map_area.currentWidget() is win.map_message, timeout=10000)
    assert "over the limit of 1000 pixels per image" in win.map_message.text()
    qtbot.waitUntil(lambda: win.thumbnails.unreadable == {0, 1, 2}, timeout=10000)
    win.images.set_max_pixels("2M")
    assert get_max_pixels() == 2_000_000 and AppSettings(tmp_path / "low.ini").get(LIMIT_SETTING) == 2_000_000
    win.images.select(1)
    wait_explained(qtbot, win)
    assert win.explain.image.path.name == "img_1.png"


def test_a_bad_setting_falls_back_to_the_default(tmp_path):
    settings = AppSettings(tmp_path / "bad.ini")
    settings.set(LIMIT_SETTING, "lots")
    assert settings.get(LIMIT_SETTING) == MAX_PIXELS


def test_l2r_desktop_takes_max_pixels(tmp_path):
    from l2r_desktop.app import parse_args

    args = parse_args(["--max-pixels", "2G", "--settings", str(tmp_path / "s.ini")])
    assert args.max_pixels == 2_000_000_000
    with pytest.raises(SystemExit):
        parse_args(["--max-pixels", "huge"])
