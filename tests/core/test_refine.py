"""Test-time refinement: steps, lower soft loss, cancellation, NaN handling, determinism."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from l2r_core.errors import Cancelled, ConfigError, NonFiniteError
from l2r_core.explainer.refine import RefineSettings, RefineStep, refine, refine_map
from l2r_core.metrics.soft import SoftLossConfig, soft_rank_loss
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.progress import CancelToken

SIZE = 32
SETTINGS = RefineSettings(relaxation="sinkhorn", residual_grid=8, grid=8)
LOSS = SoftLossConfig(references=("mean",), n_percentiles=8, grid_min=8, grid_max=8)


class BoxReader(nn.Module):
    """Class 0's logit is 8 * (mean of the input inside rows/cols 8..16) - 4; class 1's is 0.
    Deleting the box (towards the zero 'mean' reference) is what lowers class 0's probability."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        box = x[:, :, 8:16, 8:16].mean((1, 2, 3))
        return torch.stack([8.0 * box - 4.0, torch.zeros_like(box)], 1)


class Adapter(ModelAdapter):
    kind = "module"
    supports_grad = True

    def __init__(self, module: nn.Module, nan_after: int | None = None) -> None:
        super().__init__("test:box", Preprocessing(input_size=(SIZE, SIZE), resize="squash"), ["box", "rest"], "fp")
        self._module, self.calls, self.nan_after = module, 0, nan_after

    @property
    def module(self) -> nn.Module:
        return self._module

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self._module(x)
        if self.nan_after is not None and self.calls > self.nan_after:
            out = out * float("nan")
        return out


def _case() -> tuple[Adapter, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.ones(1, 3, SIZE, SIZE) + 0.1 * torch.randn(1, 3, SIZE, SIZE, generator=g)
    initial = torch.randn(SIZE, SIZE, generator=g)  # uninformative start
    return Adapter(BoxReader()), x, initial


def _soft_loss(model: ModelAdapter, x: torch.Tensor, m: torch.Tensor) -> float:
    with torch.no_grad():
        loss, _ = soft_rank_loss(model, x, m[None], torch.tensor([0]), LOSS, tau=0.3, grid=8,
                                 reference="mean", noise=False)
    return float(loss)


def test_yields_every_step_with_finite_numbers() -> None:
    model, x, initial = _case()
    token = CancelToken()
    steps = list(refine(model, x, 0, initial, steps=4, config=LOSS, settings=SETTINGS, progress=token))
    assert [s.step for s in steps] == [1, 2, 3, 4] and all(s.total == 4 for s in steps)
    assert all(isinstance(s, RefineStep) and s.map.shape == (SIZE, SIZE) for s in steps)
    assert all(torch.isfinite(torch.tensor([s.loss, s.deletion_auc, s.insertion_auc])).all() for s in steps)
    assert all(0 <= s.deletion_auc <= 1 and 0 <= s.insertion_auc <= 1 and s.tau == 0.3 for s in steps)
    assert (token.done, token.total) == (4, 4)
    assert not torch.equal(steps[-1].map, initial)


def test_refinement_lowers_the_soft_loss_and_finds_the_box() -> None:
    model, x, initial = _case()
    before = _soft_loss(model, x, initial)
    final = refine_map(model, x, 0, initial, steps=10, lr=0.1, config=LOSS, settings=SETTINGS, seed=1)
    after = _soft_loss(model, x, final)
    assert after < before - 0.05, (before, after)
    inside = final[8:16, 8:16].mean() - initial[8:16, 8:16].mean()
    outside = final.mean() - initial.mean()
    assert inside > outside  # the box moved up the ranking


def test_residual_keeps_fine_detail_and_scale() -> None:
    model, x, initial = _case()
    final = refine_map(model, x, 0, initial * 50 + 7, steps=2, config=LOSS, settings=SETTINGS)
    # the residual is 8x8 and smooth, so pixel-level differences of the initial map survive
    change = final - (initial * 50 + 7)
    assert change.std() < 0.5 * (initial * 50).std()
    assert abs(float(final.mean()) - 7) < 25


def test_cancel_after_step_k_gives_exactly_k_steps() -> None:
    model, x, initial = _case()
    token, got = CancelToken(), []
    with pytest.raises(Cancelled):
        for s in refine(model, x, 0, initial, steps=6, config=LOSS, settings=SETTINGS, progress=token):
            got.append(s)
            if len(got) == 2:
                token.cancel()
                calls_at_cancel = model.calls
    assert [s.step for s in got] == [1, 2]
    assert model.calls == calls_at_cancel > 0  # step 3 never started


def test_non_finite_loss_stops_with_last_good_map() -> None:
    _, x, initial = _case()
    model = Adapter(BoxReader(), nan_after=1)  # without batch_limit one step is one model call
    got = []
    with pytest.raises(NonFiniteError) as err:
        for s in refine(model, x, 0, initial, steps=5, config=LOSS, settings=SETTINGS):
            got.append(s)
    assert len(got) == 1 and "step 2" in str(err.value)
    assert torch.equal(err.value.last_map, got[-1].map)  # type: ignore[attr-defined]
    with pytest.raises(NonFiniteError, match="initial map"):
        next(refine(Adapter(BoxReader()), x, 0, initial * float("nan"), steps=2))


def test_deterministic_for_a_seed_and_zero_steps() -> None:
    model, x, initial = _case()
    a = refine_map(model, x, 0, initial, steps=3, config=LOSS, settings=SETTINGS, seed=5)
    b = refine_map(model, x, 0, initial, steps=3, config=LOSS, settings=SETTINGS, seed=5)
    assert torch.equal(a, b)
    assert list(refine(model, x, 0, initial, steps=0)) == []
    assert torch.equal(refine_map(model, x, 0, initial, steps=0), initial)


def test_full_map_parametrisation_and_input_checks() -> None:
    model, x, initial = _case()
    full = RefineSettings(relaxation="sinkhorn", residual_grid=None, grid=8)
    final = refine_map(model, x, 0, initial, steps=3, lr=0.1, config=LOSS, settings=full)
    assert final.shape == (SIZE, SIZE) and not torch.equal(final, initial)
    model.supports_grad = False
    with pytest.raises(ConfigError, match="needs gradients"):
        next(refine(model, x, 0, initial))
    model.supports_grad = True
    with pytest.raises(ValueError, match="one image"):
        next(refine(model, x.repeat(2, 1, 1, 1), 0, initial))
    with pytest.raises(ValueError, match="initial map"):
        next(refine(model, x, 0, initial[:8]))


def test_the_reference_option_of_l2r_refine_sets_what_removed_pixels_become(l2r_tiny_cnn, l2r_tiny_explainer,
                                                                            monkeypatch) -> None:
    """The method's ``reference`` option narrows the loss to one reference (by default the aha
    protocol's mean colour); "mixed" is the paper's three; anything else is refused by name."""
    from l2r_core.attribution import attribute
    from l2r_core.explainer import methods

    seen: list[tuple[str, ...]] = []
    real = methods.refine_map

    def spy(*args, config=None, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(tuple((config or methods.default_loss_config()).references))
        return real(*args, config=config, **kwargs)

    monkeypatch.setattr(methods, "refine_map", spy)
    x = torch.randn(1, 3, *l2r_tiny_cnn.preprocessing.input_size)
    mixed = attribute("l2r-refine", l2r_tiny_cnn, x, [0], explainer=l2r_tiny_explainer, steps=2, reference="mixed")
    mean = attribute("l2r-refine", l2r_tiny_cnn, x, [0], explainer=l2r_tiny_explainer, steps=2)
    assert seen == [("black", "mean", "blur"), ("mean",)]
    assert not torch.equal(mixed, mean)
    with pytest.raises(ConfigError, match="reference must be mixed or one of black, mean, blur, not 'white'"):
        attribute("l2r-refine", l2r_tiny_cnn, x, [0], explainer=l2r_tiny_explainer, steps=2, reference="white")


def _hard(model: ModelAdapter, x: torch.Tensor, m: torch.Tensor) -> tuple[float, float]:
    from l2r_core.metrics.hard import deletion_insertion

    r = deletion_insertion(model, x, m[None], [0], protocol="aha")
    return float(r.deletion_auc[0]), float(r.insertion_auc[0])


def test_threshold_refinement_improves_both_hard_curves_from_a_random_map() -> None:
    """The default (pixel-level) relaxation moves the box's pixels to the top of the ranking, so
    the hard 'aha' deletion AUC falls and the insertion AUC rises."""
    model, x, initial = _case()
    assert RefineSettings().relaxation == "threshold"
    before = _hard(model, x, initial)
    steps = list(refine(model, x, 0, initial, steps=30, lr=0.1, seed=0))
    after = _hard(model, x, steps[-1].map)
    assert after[0] < before[0] - 0.1 and after[1] > before[1] + 0.1, (before, after)
    assert all(s.grid == 0 and s.tau == RefineSettings().temperature for s in steps)
    assert all(0 <= s.deletion_auc <= 1 and 0 <= s.insertion_auc <= 1 for s in steps)
    box = steps[-1].map[8:16, 8:16]
    assert float((steps[-1].map > box.median()).float().mean()) < 0.15  # the box's pixels rank near the top


def test_threshold_curve_estimates_average_to_the_hard_curves_at_low_temperature() -> None:
    """With a near-step sigmoid, the estimates of both AUCs are unbiased for the hard 'aha' AUCs:
    the mean of 300 draws of 2 points each matches ``deletion_insertion``."""
    from l2r_core.metrics.references import make_reference
    from l2r_core.metrics.blend import endpoint_probs
    from l2r_core.metrics.threshold import threshold_curves

    model, x, m = _case()
    m = m + 3.0 * (torch.arange(SIZE)[:, None] < SIZE // 2)  # the top half ranks first
    ref = make_reference("mean", x, model.preprocessing)
    ends = endpoint_probs(model, x, ref, torch.tensor([0]), None)
    gen = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(300):
        c = threshold_curves(model, x, m[None], torch.tensor([0]), ref, ends=ends, samples=2, temperature=1e-6,
                             generator=gen)
        draws.append([float(c.deletion_auc[0]), float(c.insertion_auc[0])])
    draws = torch.tensor(draws)
    deletion, insertion = _hard(model, x, m)
    assert abs(float(draws[:, 0].mean()) - deletion) < 0.01
    assert abs(float(draws[:, 1].mean()) - insertion) < 0.01
    assert float(draws[:, 0].std()) > 0.001  # they are estimates, not the full curves


def test_threshold_masks_cover_the_hard_curves_pixel_counts() -> None:
    from l2r_core.metrics.threshold import quantile_thresholds, threshold_masks

    scores = torch.randn(10, 10, generator=torch.Generator().manual_seed(0))
    fractions = torch.tensor([0.05, 0.35, 0.95])
    masks = threshold_masks(scores, fractions, temperature=1e-6)
    assert (masks > 0.5).sum((1, 2)).tolist() == [5, 35, 95]
    top5 = scores.flatten().topk(5).values
    assert float(top5.min()) > float(quantile_thresholds(scores, fractions)[0])


def test_refine_settings_refuse_unknown_relaxations() -> None:
    with pytest.raises(ConfigError, match="relaxation must be one of threshold, sinkhorn"):
        RefineSettings(relaxation="argsort")
    with pytest.raises(ConfigError, match="temperature > 0"):
        RefineSettings(temperature=0.0)


def test_the_relaxation_option_of_l2r_refine_reaches_the_refinement(l2r_tiny_cnn, l2r_tiny_explainer,
                                                                    monkeypatch) -> None:
    from l2r_core.attribution import attribute
    from l2r_core.explainer import methods

    seen: list[str] = []
    real = methods.refine_map

    def spy(*args, settings=None, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(settings.relaxation)
        return real(*args, settings=settings, **kwargs)

    monkeypatch.setattr(methods, "refine_map", spy)
    x = torch.randn(1, 3, *l2r_tiny_cnn.preprocessing.input_size)
    attribute("l2r-refine", l2r_tiny_cnn, x, [0], explainer=l2r_tiny_explainer, steps=1)
    attribute("l2r-refine", l2r_tiny_cnn, x, [0], explainer=l2r_tiny_explainer, steps=1, relaxation="sinkhorn")
    assert seen == ["threshold", "sinkhorn"]
