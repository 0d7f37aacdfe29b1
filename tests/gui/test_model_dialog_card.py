"""The load-model dialog's preprocessing fields and model card: typed settings reach the loaded
model, a bad field is refused inside the dialog, the preview shows the region and the input the
model sees, cards save and load, the dialog remembers the last model; the wizard passes the same
settings to `l2r train`."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from l2r_core.models.card import read_card
from l2r_core.models.preprocessing import Preprocessing
from l2r_desktop.widgets.input_preview import OUTLINE, display_factor
from l2r_desktop.widgets.model_dialog import ModelDialog
from l2r_desktop.wizard.options import WizardOptions, model_input_reason, train_args

from .test_wizard_support import wizard_weights  # noqa: F401 - resnet10t, 3 classes, .safetensors

pytestmark = pytest.mark.gui


def click_ok(dialog: QDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def choose(combo, key: str) -> None:
    combo.setCurrentIndex(combo.findData(key))


def type_model(qtbot, dialog: ModelDialog, weights: Path) -> None:
    dialog.set_source("timm")
    qtbot.keyClicks(dialog.arch, "resnet10t")
    qtbot.keyClicks(dialog.weights, str(weights))


@pytest.fixture
def open_dialog(qtbot, window_factory):
    """A shown ModelDialog on a window's model view-model; closed at the end."""
    made: list[ModelDialog] = []

    def make(preview_image: str | None = None) -> ModelDialog:
        win = window_factory()
        dialog = ModelDialog(win.models, win, preview_image=preview_image)
        made.append(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    yield make
    for dialog in made:
        dialog.close()
        dialog.deleteLater()


def test_typed_settings_load_and_the_dialog_reopens_with_them(qtbot, window_factory, dialog_log, wizard_weights,
                                                              image_folder):
    win = window_factory(paths=[str(image_folder / "img_0.png")])
    reopened: dict[str, object] = {}

    def load(dialog: ModelDialog) -> int:
        assert dialog.preview_path.text() == str(image_folder / "img_0.png")  # the window's current image
        type_model(qtbot, dialog, wizard_weights)
        qtbot.keyClicks(dialog.fields.input_size, "32x48")
        choose(dialog.fields.resize_mode, "pad")
        qtbot.keyClicks(dialog.fields.mean, "0.286")
        qtbot.keyClicks(dialog.fields.std, "0.353")
        with qtbot.waitSignal(win.models.loadSucceeded, timeout=60_000):
            click_ok(dialog)
        qtbot.waitUntil(lambda: dialog.result() == QDialog.DialogCode.Accepted, timeout=5_000)
        return dialog.result()

    dialog_log.run = load
    win.actions.load_model.trigger()
    pre = win.models.model.preprocessing
    assert win.models.model.kind == "timm" and win.models.loaded.spec == "timm:resnet10t"
    assert (pre.input_size, pre.resize, pre.mean, pre.std) == ((32, 48), "pad", (0.286,) * 3, (0.353,) * 3)
    assert dialog_log.errors == []

    def reopen(dialog: ModelDialog) -> int:
        f = dialog.fields
        reopened.update(source=dialog.kind(), arch=dialog.arch.text(), weights=dialog.weights.text(),
                        size=f.input_size.text(), resize=f.resize_mode.currentData(), mean=f.mean.text(),
                        std=f.std.text(), origin=dialog.preview.note.text(),
                        shown=dialog.preview.preprocessing)
        dialog.reject()
        return dialog.result()

    dialog_log.run = reopen
    win.actions.load_model.trigger()
    assert reopened["source"] == "timm" and reopened["arch"] == "resnet10t"
    assert reopened["weights"] == str(wizard_weights)
    fields = (reopened["size"], reopened["resize"], reopened["mean"], reopened["std"])
    assert fields == ("32x48", "pad", "0.286", "0.353")
    assert "loaded model" in str(reopened["origin"]) and reopened["shown"] == pre  # the real preprocessing


def test_a_bad_field_is_refused_in_the_dialog_and_nothing_loads(qtbot, open_dialog, dialog_log, wizard_weights):
    dialog = open_dialog()
    type_model(qtbot, dialog, wizard_weights)
    qtbot.keyClicks(dialog.fields.mean, "1,2")
    before = dialog.vm.model
    click_ok(dialog)
    text = dialog.error_label.text()
    assert text.startswith("Load model dialog: 'mean'") and "Give 1 value (all channels) or 3 values" in text
    assert not dialog.waiting and not dialog.vm.loading and dialog.vm.model is before
    dialog.update_preview()
    assert "'mean'" in dialog.preview.note.text() and dialog.preview.model_input is None
    dialog.fields.mean.clear()
    qtbot.keyClicks(dialog.fields.input_size, "big")
    click_ok(dialog)
    assert "'input_size'" in dialog.error_label.text() and "Give N or HxW" in dialog.error_label.text()
    assert dialog_log.errors == []


def test_the_preview_outlines_the_region_and_shows_the_input(qtbot, open_dialog, wizard_weights, image_folder):
    image = image_folder / "img_0.png"  # 48x40
    dialog = open_dialog(str(image))
    type_model(qtbot, dialog, wizard_weights)  # timm: defaults unknown before loading
    qtbot.keyClicks(dialog.fields.input_size, "32")
    choose(dialog.fields.resize_mode, "crop")
    dialog.fields.crop_pct.setValue(75.0)
    qtbot.waitUntil(lambda: dialog.preview.preprocessing is not None
                    and dialog.preview.preprocessing.crop_pct == 0.75, timeout=5_000)
    preview = dialog.preview
    expected = Preprocessing(input_size=(32, 32), resize="crop", crop_pct=0.75)
    assert preview.outline == expected.placement((48, 40)).source
    assert preview.placement.cropped and preview.note.text().startswith("Assumed")
    # The outline is drawn where the box lies on the shown original.
    pix = dialog.preview.original_label.pixmap().toImage()
    scale = pix.width() / 48
    left, top, right, _ = preview.outline
    assert QColor(pix.pixel(int((left + right) / 2 * scale), int(top * scale + 1))) == OUTLINE
    assert preview.model_input.size == (32, 32)
    assert preview.input_pixmap().width() == 32 * display_factor((32, 32))
    dialog.fields.input_size.setText("32x48")
    dialog.update_preview()
    assert preview.model_input.size == (48, 32)  # (width, height)
    f = display_factor((32, 48))
    assert (preview.input_pixmap().width(), preview.input_pixmap().height()) == (48 * f, 32 * f)
    choose(dialog.fields.resize_mode, "pad")
    dialog.fields.input_size.setText("64")
    dialog.update_preview()
    assert preview.outline == (0.0, 0.0, 48.0, 40.0)  # pad: the whole image, letterboxed
    # 48x40 is pasted, not enlarged, on 64x64: black all round.
    assert "letterboxed: 16 px of padding left and right, 24 px top and bottom" in preview.note.text()
    assert preview.model_input.size == (64, 64) and preview.model_input.getpixel((0, 0)) == (0, 0, 0)
    dialog.fields.input_size.setText("32")
    dialog.update_preview()  # scaled to 32x27, centred
    assert "letterboxed: 5 px of padding top and bottom" in preview.note.text()


def test_save_model_card_then_load_it_into_the_fields(qtbot, open_dialog, dialog_log, wizard_weights, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("ant\nbee\nwasp\n")
    dialog = open_dialog()
    type_model(qtbot, dialog, wizard_weights)
    f = dialog.fields
    qtbot.keyClicks(f.input_size, "32x48")
    choose(f.resize_mode, "crop")
    f.crop_pct.setValue(90.0)
    qtbot.keyClicks(f.mean, "0.5, 0.4, 0.3")
    qtbot.keyClicks(f.std, "0.25")
    choose(f.interpolation, "bilinear")
    f.class_names.setText(str(names))
    dialog_log.save_file = str(tmp_path / "cards" / "resnet10t")  # no suffix typed: .json is added
    (tmp_path / "cards").mkdir()
    f.save_card.click()
    saved = tmp_path / "cards" / "resnet10t.json"
    assert saved.is_file() and "Saved the model card" in dialog.card_status.text()
    card = read_card(saved)
    assert card.model == "timm:resnet10t"
    assert (card.input_size, card.resize, card.crop_pct, card.interpolation) == ((32, 48), "crop", 0.9, "bilinear")
    assert (card.mean, card.std, card.class_names) == ((0.5, 0.4, 0.3), (0.25,), ("ant", "bee", "wasp"))
    for edit in (f.input_size, f.mean, f.std):
        edit.clear()
    choose(f.resize_mode, "")
    choose(f.interpolation, "")
    dialog_log.open_file = str(saved)
    f.card_browse.click()
    assert f.card.text() == str(saved)
    assert (f.input_size.text(), f.resize_mode.currentData(), f.crop_pct.value()) == ("32x48", "crop", 90.0)
    assert (f.mean.text(), f.std.text(), f.interpolation.currentData()) == ("0.5, 0.4, 0.3", "0.25", "bilinear")
    assert dialog.options()["card"] == str(saved)
    bad = tmp_path / "bad.json"
    bad.write_text('{"resize": "stretch"}')
    dialog_log.open_file = str(bad)
    f.card_browse.click()
    assert str(bad) in dialog.error_label.text() and "Use one of: crop, squash, pad" in dialog.error_label.text()


def test_the_wizard_passes_the_card_settings_to_l2r_train(tmp_path, wizard_weights):
    from l2r_training.cli.train import add_train_parser, resolve_args

    o = WizardOptions(arch="resnet10t", weights=str(wizard_weights), data=str(tmp_path / "img"),
                      out=str(tmp_path / "o"), input_size="32", resize="pad", mean="0.286", std="0.353")
    args = train_args(o)
    i = args.index("--input-size")
    assert args[i:i + 8] == ["--input-size", "32", "--resize", "pad", "--mean", "0.286", "--std", "0.353"]
    assert "--model-card" not in args and "--crop-pct" not in args
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    cfg, _ = resolve_args(parser.parse_args(args))
    assert cfg.model_card == {"input_size": "32", "resize": "pad", "mean": [0.286], "std": [0.353]}
    card = tmp_path / "card.json"
    card.write_text('{"input_size": 48, "interpolation": "bilinear"}')
    o.model_card, o.mean, o.std = str(card), "0.5, 0.4, 0.3", ""
    args = train_args(o)
    assert args[args.index("--model-card") + 1] == str(card) and "--std" not in args
    i = args.index("--mean")
    assert args[i:i + 4] == ["--mean", "0.5", "0.4", "0.3"]
    cfg, _ = resolve_args(parser.parse_args(args))
    assert cfg.model_card["interpolation"] == "bilinear" and cfg.model_card["input_size"] == "32"
    assert WizardOptions.from_dict(o.to_dict()) == o  # saved wizard state round-trips
    o.mean = "1,2"
    assert "Model page: 'mean'" in model_input_reason(o)
    o.mean, o.model_card = "", str(tmp_path / "missing.json")
    assert "model card file" in model_input_reason(o) and "does not exist" in model_input_reason(o)


def test_the_wizard_model_page_fields_and_check(qtbot, settings, wizard_weights):
    from l2r_desktop.wizard import FineTuneWizard

    wiz = FineTuneWizard(settings, None, "")
    wiz.show()
    qtbot.waitExposed(wiz)
    try:
        page = wiz.currentPage()
        page.arch.setText("resnet10t")
        page.weights.edit.setText(str(wizard_weights))
        qtbot.keyClicks(page.std, "0")
        assert "'std'" in page.reason_label.text() and "above 0" in page.reason_label.text()
        page.std.clear()
        qtbot.keyClicks(page.input_size, "40")
        choose(page.resize_mode, "squash")
        assert (wiz.vm.opts.input_size, wiz.vm.opts.resize) == ("40", "squash")
        page.check_button.click()
        qtbot.waitUntil(lambda: wiz.vm.model_check is not None, timeout=60_000)
        assert wiz.vm.model_check.input_size == (40, 40)  # the check loads with the page's settings
    finally:
        wiz.close()
