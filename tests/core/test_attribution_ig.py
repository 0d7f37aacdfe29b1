"""Integrated Gradients: completeness, quadrature rules, baselines, batching, cancellation."""
from __future__ import annotations

import pytest
import torch

from l2r_core.attribution import attribute
from l2r_core.attribution.integrated_gradients import integration_points, resolve_baseline
from l2r_core.errors import Cancelled, ConfigError
from l2r_core.models.adapter import ModelAdapter
from l2r_core.progress import CancelToken

from .fixtures_models import module_model, smooth_cnn


@pytest.fixture
def model() -> ModelAdapter:
    return module_model(smooth_cnn(), (16, 16), 3)


@pytest.mark.parametrize("rule", ["riemann_trapezoid", "gausslegendre"])
@pytest.mark.parametrize("baseline", ["mean", "black", "blur"])
def test_completeness_logit(model: ModelAdapter, rule: str, baseline: str) -> None:
    # f = target-class LOGIT: sum of attributions = f(x) - f(baseline) within 5%
    x, t = torch.randn(2, 3, 16, 16) * 2, torch.tensor([0, 2])
    attr = attribute("ig", model, x, t, steps=64, rule=rule, baseline=baseline, batch_limit=40)
    x0 = resolve_baseline(baseline, x, model)
    with torch.no_grad():
        delta = (model.logits(x) - model.logits(x0)).gather(1, t[:, None])[:, 0]
    assert attr.shape == (2, 16, 16)
    assert (delta.abs() > 1e-2).all()
    assert torch.allclose(attr.sum((1, 2)), delta, rtol=0.05, atol=1e-6), (attr.sum((1, 2)), delta)


def test_completeness_probability_and_tensor_baseline(model: ModelAdapter) -> None:
    x, t = torch.randn(1, 3, 16, 16) * 2, torch.tensor([1])
    x0 = torch.full((3, 1, 1), 0.5)
    attr = attribute("ig", model, x, t, steps=64, baseline=x0, output="probability")
    with torch.no_grad():
        p = model.probabilities(x)[0, 1] - model.probabilities(x0.expand(1, 3, 16, 16))[0, 1]
    assert abs(float(attr.sum()) - float(p)) <= 0.05 * abs(float(p)) + 1e-5


def test_result_does_not_depend_on_batching(model: ModelAdapter) -> None:
    x = torch.randn(3, 3, 16, 16)
    a = attribute("ig", model, x, [0, 1, 2], steps=10, batch_limit=7)
    b = attribute("ig", model, x, [0, 1, 2], steps=10, batch_limit=64)
    assert torch.allclose(a, b, atol=1e-5)


def test_integration_points_integrate_polynomials() -> None:
    for rule, n in [("gausslegendre", 4), ("riemann_trapezoid", 200), ("riemann-middle", 200)]:
        a, w = integration_points(n, rule)
        assert abs(float(w.sum()) - 1) < 1e-12
        assert abs(float((w * a ** 3).sum()) - 0.25) < 1e-4  # int_0^1 a^3 da
    with pytest.raises(ConfigError):
        integration_points(8, "simpson")


def test_ig_is_cancellable(model: ModelAdapter) -> None:
    class StopAfter(CancelToken):
        def step(self, done: int, total: int, message: str = "") -> None:
            super().step(done, total, message)
            if done >= 8:
                self.cancel()

    prog = StopAfter()
    with pytest.raises(Cancelled):
        attribute("ig", model, torch.randn(2, 3, 16, 16), 0, steps=32, batch_limit=4, progress=prog)
    assert prog.done == 12 and prog.total == 64  # stopped at the next step after cancel
