"""The window against both corpora and against NaN: every bad image, model file and explainer is opened
through the window's normal paths (open a folder and step through it; Model > Load in the worker);
a bad image is named in place of the map (no dialog while browsing), a bad model or explainer in
one dialog that names the file; the window stays alive, and it still explains after."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from l2r_desktop.jobs import LoadedModel
from l2r_desktop.viewmodels.state import REFINED
from tests.corpus.images import CorpusItem, make_image_corpus
from tests.corpus.models import ModelCorpusItem, make_model_corpus, sentinel_path
from tests.robustness.ledger import CRASHING_ITEMS, record

from .conftest import make_tiny_model, wait_explained

pytestmark = pytest.mark.gui
CRASH_TITLE = "Unexpected error"  # describe_error's title for anything that is not an L2RError


@pytest.fixture(scope="module")
def image_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CorpusItem]]:
    folder = tmp_path_factory.mktemp("gui_images")
    return folder, make_image_corpus(folder)


@pytest.fixture(scope="module")
def model_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[ModelCorpusItem]:
    return make_model_corpus(tmp_path_factory.mktemp("gui_models"))


@contextmanager
def no_slot_exceptions(qtbot: Any, entry: str, what: str) -> Iterator[None]:
    """An exception raised inside a Qt slot is a crash (counted), even if the window survives it."""
    with qtbot.capture_exceptions() as caught:
        yield
    for _type, value, _tb in caught:
        record(entry, what, f"exception in a Qt slot: {value!r}", crash=True)
    assert not caught, [repr(v) for _t, v, _tb in caught]


def _settled(win: Any) -> bool:
    return not win.runner.busy and not win.models.loading


def _explained(win: Any, path: Path) -> bool:
    e = win.explain
    keys = e.shown_methods()
    return (_settled(win) and e.image is not None and e.image.path == path and bool(keys)
            and all(k in e.results and e.results[k].curves is not None for k in keys))


def _last_dialog(dialog_log: Any, before: int, entry: str, item: str) -> tuple[str, str]:
    assert len(dialog_log.errors) == before + 1, dialog_log.errors[before:]
    title, message = dialog_log.errors[-1]
    record(entry, item, f"dialog: {title}", crash=title == CRASH_TITLE, detail=message)
    return title, message


def test_every_corpus_image_opens_or_is_refused_by_name(window_factory, qtbot, dialog_log, image_corpus):
    with no_slot_exceptions(qtbot, "gui:open image", "image corpus folder"):
        _step_through_images(window_factory, qtbot, dialog_log, image_corpus)


def _step_through_images(window_factory: Any, qtbot: Any, dialog_log: Any,
                         image_corpus: tuple[Path, list[CorpusItem]]) -> None:
    folder, items = image_corpus
    by_name = {i.name: i for i in items}
    win = window_factory(paths=[str(folder)])
    qtbot.waitUntil(lambda: _settled(win), timeout=30000)
    assert sorted(p.name for p in win.images.paths) == sorted(by_name)
    for index, path in enumerate(win.images.paths):
        item, before = by_name[path.name], len(dialog_log.errors)
        win.images.select(index, force=True)
        if item.ok:
            qtbot.waitUntil(lambda: _explained(win, path) or len(dialog_log.errors) > before, timeout=30000)
            assert len(dialog_log.errors) == before, (item.name, dialog_log.errors[before:])
            record("gui:open image", item.name, "explained")
            assert np.isfinite(win.explain.results[win.explain.primary].raw).all()
        else:  # browsing: the reason replaces the map, no modal dialog
            qtbot.waitUntil(lambda: (win.map_area.currentWidget() is win.map_message and _settled(win))
                            or len(dialog_log.errors) > before, timeout=30000)
            message = win.map_message.text()
            crash = len(dialog_log.errors) > before and dialog_log.errors[-1][0] == CRASH_TITLE
            record("gui:open image", item.name, "refused in place", crash=crash, detail=message)
            assert len(dialog_log.errors) == before, (item.name, dialog_log.errors[before:])
            assert message.startswith(f"Cannot read {path.name}: "), (item.name, message)
    assert win.isVisible()


def _load_and_wait(qtbot: Any, win: Any, item: ModelCorpusItem) -> None:
    if item.kind == "model":
        win.models.load(item.spec, str(item.weights) if item.weights else None)
    else:
        win.models.load_explainer(str(item.path))
    qtbot.waitUntil(lambda: _settled(win), timeout=60000)


def test_every_bad_model_and_explainer_is_refused_by_name(window_factory, qtbot, dialog_log, model_corpus,
                                                          image_corpus):
    with no_slot_exceptions(qtbot, "gui:load model", "model corpus"):
        _load_every_model(window_factory, qtbot, dialog_log, model_corpus, image_corpus)


def _load_every_model(window_factory: Any, qtbot: Any, dialog_log: Any, model_corpus: list[ModelCorpusItem],
                      image_corpus: tuple[Path, list[CorpusItem]]) -> None:
    win = window_factory()
    good = [m for m in model_corpus if m.kind == "model" and m.expect_error_substring is None]
    bad = [m for m in model_corpus if m.kind == "model" and m.expect_error_substring and m.name not in CRASHING_ITEMS]
    for item in bad:
        before = len(dialog_log.errors)
        _load_and_wait(qtbot, win, item)
        title, message = _last_dialog(dialog_log, before, "gui:load model", item.name)
        assert title == "Cannot load model" and item.path.name in message, (item.name, title, message)
        assert item.expect_error_substring in message
        assert win.models.model is not None  # the previous model stays loaded
    before = len(dialog_log.errors)
    _load_and_wait(qtbot, win, good[0])  # the control model loads ...
    assert len(dialog_log.errors) == before and win.models.loaded.spec == good[0].spec
    for item in (m for m in model_corpus if m.kind == "explainer" and m.expect_error_substring):
        before = len(dialog_log.errors)
        _load_and_wait(qtbot, win, item)  # ... and refuses every bad explainer
        title, message = _last_dialog(dialog_log, before, "gui:load explainer", item.name)
        assert title == "Cannot load model" and item.path.name in message, (item.name, title, message)
        assert win.models.explainer is None
    good_explainer = next(m for m in model_corpus if m.name == "explainer_good")
    _load_and_wait(qtbot, win, good_explainer)
    record("gui:load explainer", good_explainer.name, "loaded")
    assert win.models.explainer is not None and win.explain.primary == "l2r"
    plain = image_corpus[0] / "plain.jpg"
    win.open_paths([str(plain)])  # the window still explains, with the learned explainer
    qtbot.waitUntil(lambda: _explained(win, plain), timeout=30000)
    assert np.isfinite(win.explain.results["l2r"].raw).all()
    assert not sentinel_path(model_corpus[0].path.parent).exists()


def test_vit_weights_as_resnet_get_a_load_dialog(window_factory, qtbot, dialog_log, model_corpus):
    win = window_factory()
    item = next(m for m in model_corpus if m.name == "vit_weights_as_resnet")
    _load_and_wait(qtbot, win, item)
    title, message = _last_dialog(dialog_log, 0, "gui:load model", item.name)
    assert title == "Cannot load model" and item.path.name in message


def _poisonable(seed: int = 0) -> tuple[Any, dict[str, bool]]:
    """The conftest's tiny model whose logits turn NaN while ``state['poison']`` is set."""
    model, state = make_tiny_model(seed), {"poison": False}
    original = model.logits
    model.logits = lambda x: original(x) * float("nan") if state["poison"] else original(x)
    return model, state


def test_nan_during_refinement_is_reported_and_the_last_good_map_stays(window_factory, qtbot, dialog_log,
                                                                       image_folder):
    model, state = _poisonable()
    win = window_factory(model=LoadedModel(model, "poisonable"), paths=[str(image_folder / "img_0.png")])
    wait_explained(qtbot, win)
    start = win.explain.results[win.explain.primary].raw.copy()
    state["poison"] = True
    win.explain.refine_steps = 3
    with no_slot_exceptions(qtbot, "gui:refine", "model turns NaN"):
        win.explain.refine()
        qtbot.waitUntil(lambda: not win.explain.refining and bool(dialog_log.errors), timeout=30000)
    title, message = _last_dialog(dialog_log, 0, "gui:refine", "model turns NaN")
    assert title == "Invalid numbers" and "refinement stopped at step 1" in message
    np.testing.assert_array_equal(win.explain.results[REFINED].raw, start)  # step 0 = the last good map
    state["poison"] = False
    win.images.open([str(image_folder / "img_1.png")])
    wait_explained(qtbot, win)
    assert win.isVisible() and len(dialog_log.errors) == 1


def test_a_model_returning_nan_everywhere_does_not_break_the_window(window_factory, qtbot, dialog_log,
                                                                     image_folder):
    model, state = _poisonable(1)
    state["poison"] = True
    with no_slot_exceptions(qtbot, "gui:explain", "model returns NaN"):
        win = window_factory(model=LoadedModel(model, "all-NaN"), paths=[str(image_folder / "img_0.png")])
        qtbot.waitUntil(lambda: _settled(win) and (bool(dialog_log.errors) or _explained(win, win.explain.path)),
                        timeout=30000)
    titles = dialog_log.titles()
    record("gui:explain", "model returns NaN", f"dialogs {titles}", crash=CRASH_TITLE in titles)
    assert CRASH_TITLE not in titles, dialog_log.errors
    state["poison"] = False
    win.images.open([str(image_folder / "img_2.png")])
    wait_explained(qtbot, win)
    assert win.isVisible()
