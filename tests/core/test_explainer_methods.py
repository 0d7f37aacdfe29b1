"""The registered l2r / l2r-refine methods run through attribute()."""
from __future__ import annotations

import pytest
import timm
import torch

import l2r_core.explainer.methods  # noqa: F401  registers l2r and l2r-refine
from l2r_core.attribution import attribute, get_method
from l2r_core.errors import Cancelled, ConfigError
from l2r_core.explainer import ExplainerConfig, build_explainer, save_explainer
from l2r_core.metrics.soft import SoftLossConfig
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.models.timm_adapter import TimmAdapter
from l2r_core.progress import CancelToken

SMALL = ExplainerConfig(stage_channels=16, fusion_channels=8, head_channels=4, embed_dim=8)


def tiny(fingerprint: str = "fp-a") -> TimmAdapter:
    model = timm.create_model("resnet10t", pretrained=False, num_classes=4)
    return TimmAdapter(model, "resnet10t", Preprocessing(input_size=(32, 32)), list("abcd"), fingerprint)


def test_registered_with_explainer_flag() -> None:
    assert get_method("l2r").needs_explainer and not get_method("l2r").needs_grad
    info = get_method("l2r-refine")
    assert info.needs_explainer and info.needs_grad and info.defaults["steps"] == 10


def test_l2r_matches_explain_in_chunks() -> None:
    model = tiny()
    ex = build_explainer(model, SMALL)
    x = torch.randn(3, 3, 32, 32)
    token = CancelToken()
    maps = attribute("l2r", model, x, [0, 1, 2], batch_limit=2, progress=token, explainer=ex)
    with torch.no_grad():
        expected, _ = ex.explain(x, torch.tensor([0, 1, 2]))
    assert maps.shape == (3, 32, 32)
    torch.testing.assert_close(maps, expected)
    assert (token.done, token.total) == (2, 2)


def test_missing_or_foreign_explainer_is_refused(tmp_path) -> None:
    model = tiny()
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ConfigError, match="needs a trained explainer.*--explainer"):
        attribute("l2r", model, x, 0)
    with pytest.raises(ConfigError, match="needs a trained explainer"):
        attribute("l2r-refine", model, x, 0)
    other = build_explainer(tiny("fp-b"), SMALL)
    with pytest.raises(ConfigError, match="fp-b.*fp-a"):
        attribute("l2r", model, x, 0, explainer=other)
    with pytest.raises(ConfigError, match="must be an explainer \\(ExplainerLike"):
        attribute("l2r", model, x, 0, explainer=3)


def test_explainer_given_as_a_folder(tmp_path) -> None:
    model = tiny()
    ex = build_explainer(model, SMALL)
    save_explainer(ex, tmp_path / "ex")
    x = torch.randn(2, 3, 32, 32)
    by_path = attribute("l2r", model, x, [1, 3], explainer=str(tmp_path / "ex"))
    torch.testing.assert_close(by_path, attribute("l2r", model, x, [1, 3], explainer=ex))


def test_l2r_refine_runs_and_reports_progress() -> None:
    model = tiny()
    ex = build_explainer(model, SMALL)
    x = torch.randn(2, 3, 32, 32)
    token = CancelToken()
    small_loss = dict(config=SoftLossConfig(n_percentiles=4, grid_min=4, grid_max=8))
    refined = attribute("l2r-refine", model, x, [0, 1], progress=token, explainer=ex, steps=2, **small_loss)
    plain = attribute("l2r", model, x, [0, 1], explainer=ex)
    assert refined.shape == (2, 32, 32) and torch.isfinite(refined).all()
    assert not torch.allclose(refined, plain)
    assert (token.done, token.total) == (4, 4)  # 2 images x 2 steps
    cancelled = CancelToken()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        attribute("l2r-refine", model, x, [0, 1], progress=cancelled, explainer=ex, steps=2, **small_loss)


def test_duck_typed_explainer_is_accepted() -> None:
    """ONNX explainers implement ExplainerLike without being Explainer subclasses; so can anyone's."""
    model = tiny()

    class Constant:
        fingerprint, config = "constant", None

        def __init__(self) -> None:
            self.model = model

        def explain(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return targets.float()[:, None, None].expand(-1, 32, 32), torch.zeros(x.shape[0], 4)

        def describe(self) -> dict[str, object]:
            return {"kind": "constant"}

        def to(self, device: object) -> "Constant":
            return self

        def eval(self) -> "Constant":
            return self

    maps = attribute("l2r", model, torch.randn(2, 3, 32, 32), [1, 3], explainer=Constant())
    assert maps.shape == (2, 32, 32) and maps[0].eq(1).all() and maps[1].eq(3).all()

    class OnlyExplain:
        model = tiny()

        def explain(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            raise AssertionError("never called")

    with pytest.raises(ConfigError, match="option explainer must be"):
        attribute("l2r", model, torch.randn(1, 3, 32, 32), [0], explainer=OnlyExplain())
