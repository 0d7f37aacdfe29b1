"""The core API on every corpus item, in-process: load_image, load_model, load_explainer and
pipeline.explain either work (finite maps and AUCs) or raise an L2RError whose single printable line
names the file. Any other exception escaping is a crash (counted, and a failure)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from l2r_core.errors import ImageLoadError, L2RError, ModelLoadError
from l2r_core.images import load_image
from l2r_core.pipeline import explain, prepare, top_predictions
from tests.corpus.images import make_image_corpus
from tests.corpus.models import ModelCorpusItem, sentinel_path

from .conftest import Corpora
from .ledger import CRASHING_ITEMS, record

ANSI_ITEMS = ("evil_torch_save",)  # known bug ansi-in-refusal


def _attempt(entry: str, item: str, fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """Run ``fn``; record ok / refused / crash (an exception that is not an L2RError)."""
    try:
        value = fn()
    except L2RError as exc:
        record(entry, item, f"refused: {type(exc).__name__}", detail=str(exc))
        return None, exc
    except Exception as exc:  # noqa: BLE001 - the finding itself
        record(entry, item, f"crash: {type(exc).__name__}", crash=True, detail=str(exc))
        return None, exc
    record(entry, item, "ok")
    return value, None


def _check_map_and_curves(exp: Any) -> None:
    assert exp.map.shape == (32, 32) and np.isfinite(exp.map).all()
    c = exp.curves("aha")
    assert not c.warnings
    assert 0 <= c.deletion_auc <= 1 and 0 <= c.insertion_auc <= 1


def test_every_image_loads_and_explains_or_is_refused_by_name(corpora: Corpora, good_model: Any) -> None:
    failures = []
    for item in corpora.images:
        img, err = _attempt("core:load_image", item.name, lambda: load_image(item.path))
        try:
            if item.ok:
                assert err is None, f"refused a good image: {err!r}"
                assert img.mode == "RGB" and (item.size is None or img.size == item.size)
                prep = prepare(good_model, img)
                top = top_predictions(good_model, prep.x, 3)
                assert len(top) == 3 and abs(sum(p.probability for p in top) - 1) < 1e-4
                exp, err = _attempt("core:pipeline.explain", item.name,
                                    lambda: explain(good_model, prep.x, "gradcam"))
                assert err is None, repr(err)
                _check_map_and_curves(exp)
            else:
                assert isinstance(err, ImageLoadError), repr(err)
                msg = str(err)
                assert item.path.name in msg and "\n" not in msg and msg.isprintable(), msg
        except AssertionError as exc:
            failures.append(f"{item.name}: {exc}")
    assert not failures, "\n".join(failures)


def _load(item: ModelCorpusItem, model: Any) -> Any:
    from l2r_core.explainer import load_explainer
    from l2r_core.models.loading import load_model

    if item.kind == "model":
        return load_model(item.spec, weights=item.weights)
    return load_explainer(item.path, model)  # a folder or an .onnx file


def test_every_model_file_loads_or_is_refused_by_name(corpora: Corpora, good_model: Any) -> None:
    failures = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own warnings on the hostile files
        for item in corpora.models:
            if item.name in CRASHING_ITEMS:
                continue  # test_vit_weights_as_resnet_are_refused below
            loaded, err = _attempt(f"core:load_{item.kind}", item.name, lambda: _load(item, good_model))
            try:
                if item.expect_error_substring is None:
                    assert err is None, repr(err)
                else:
                    assert isinstance(err, ModelLoadError), repr(err)
                    msg = str(err)
                    assert item.expect_error_substring in msg and item.path.name in msg, msg
                    assert "\n" not in msg and (item.name in ANSI_ITEMS or msg.isprintable()), repr(msg)
            except AssertionError as exc:
                failures.append(f"{item.name}: {exc}")
    assert not sentinel_path(corpora.models_dir).exists(), "a hostile pickle ran code"
    assert not failures, "\n".join(failures)


def test_the_good_explainer_explains_and_the_good_model_matches(corpora: Corpora, good_model: Any) -> None:
    from l2r_core.explainer import load_explainer

    explainer = load_explainer(corpora.model("explainer_good").path, good_model)
    img = load_image(corpora.image("plain.jpg").path)
    prep = prepare(good_model, img)
    exp, err = _attempt("core:pipeline.explain", "explainer_good (l2r)",
                        lambda: explain(good_model, prep.x, "l2r", explainer=explainer))
    assert err is None
    _check_map_and_curves(exp)


def test_vit_weights_as_resnet_are_refused(corpora: Corpora, good_model: Any) -> None:
    item = corpora.model("vit_weights_as_resnet")
    _, err = _attempt("core:load_model", item.name, lambda: _load(item, good_model))
    assert isinstance(err, ModelLoadError) and "do not match" in str(err), repr(err)


def test_refusals_hold_no_terminal_escape_codes(corpora: Corpora, good_model: Any) -> None:
    for name in ANSI_ITEMS:
        with pytest.raises(ModelLoadError) as err, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _load(corpora.model(name), good_model)
        assert str(err.value).isprintable(), repr(str(err.value))


@pytest.mark.slow
def test_a_50_megapixel_photo_is_downscaled_and_explained(tmp_path: Path, good_model: Any) -> None:
    item = next(i for i in make_image_corpus(tmp_path, large=True) if i.name == "large_50mp.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img, err = _attempt("core:load_image", item.name, lambda: load_image(item.path))
    assert err is None and max(img.size) <= 4096 and any("downscaled" in str(w.message) for w in caught)
    exp, err = _attempt("core:pipeline.explain", item.name,
                        lambda: explain(good_model, prepare(good_model, img).x, "gradcam"))
    assert err is None
    _check_map_and_curves(exp)
