"""Pixel-level threshold curves (metrics/threshold.py): exact at low temperature, batched, and the
training loss built on them (``ranking="threshold"``)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from l2r_core.errors import ConfigError
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.metrics.references import make_reference
from l2r_core.metrics.soft import SoftLossConfig, soft_curves, soft_rank_loss
from l2r_core.metrics.threshold import standardized, threshold_curves
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.preprocessing import Preprocessing

SIZE = 24
LOSS = SoftLossConfig(ranking="threshold", references=("mean",), percentile_samples=0, w_peak=0.0,
                      threshold_temperature=1e-4)


class CornerReader(nn.Module):
    """Class 0 reads the top-left 8 x 8 corner, class 1 the bottom-right one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([6.0 * x[:, :, :8, :8].mean((1, 2, 3)) - 3.0,
                            6.0 * x[:, :, -8:, -8:].mean((1, 2, 3)) - 3.0, torch.zeros(x.shape[0])], 1)


class Adapter(ModelAdapter):
    kind = "module"
    supports_grad = True

    def __init__(self) -> None:
        super().__init__("test:corners", Preprocessing(input_size=(SIZE, SIZE), resize="squash"),
                         ["top-left", "bottom-right", "none"], "fp")
        self._module = CornerReader()

    @property
    def module(self) -> nn.Module:
        return self._module

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._module(x)


def _case() -> tuple[Adapter, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.ones(2, 3, SIZE, SIZE) + 0.1 * torch.randn(2, 3, SIZE, SIZE, generator=g)
    corner = torch.zeros(SIZE, SIZE)
    corner[:8, :8] = 1.0
    maps = torch.stack([corner, corner.flip(0, 1)]) + 0.01 * torch.randn(2, SIZE, SIZE, generator=g)
    return Adapter(), x, maps


def test_every_point_at_low_temperature_gives_the_hard_aha_aucs_for_each_image_of_a_batch() -> None:
    model, x, maps = _case()
    targets = torch.tensor([0, 0])  # image 0's map finds class 0's corner; image 1's map does not
    ref = make_reference("mean", x, model.preprocessing)
    curves = threshold_curves(model, x, maps, targets, ref, samples=0, temperature=1e-6)
    hard = deletion_insertion(model, x, maps, [0, 0], protocol="aha")
    assert curves.deletion_auc.tolist() == pytest.approx(hard.deletion_auc.tolist(), abs=1e-3)
    assert curves.insertion_auc.tolist() == pytest.approx(hard.insertion_auc.tolist(), abs=1e-3)
    assert curves.deletion.shape == (2, 21)  # the 19 interior points and the two ends
    assert float(curves.deletion_auc[0]) < float(curves.deletion_auc[1]) - 0.2


def test_threshold_loss_ignores_the_maps_scale_and_prefers_the_right_map() -> None:
    model, x, maps = _case()
    targets = torch.tensor([0, 1])  # both maps are right
    right, _ = soft_rank_loss(model, x, maps, targets, LOSS)
    rescaled, _ = soft_rank_loss(model, x, 7.0 * maps - 3.0, targets, LOSS)
    wrong, _ = soft_rank_loss(model, x, maps.flip(0), targets, LOSS)
    assert float(rescaled) == pytest.approx(float(right), abs=1e-5)
    assert float(right) < float(wrong) - 0.3


def test_threshold_loss_gives_every_pixel_near_a_threshold_a_gradient() -> None:
    model, x, _ = _case()
    raw = torch.randn(2, SIZE, SIZE, generator=torch.Generator().manual_seed(1), requires_grad=True)
    cfg = SoftLossConfig(ranking="threshold", references=("mean",), percentile_samples=2, threshold_temperature=0.1)
    loss, _ = soft_rank_loss(model, x, raw, torch.tensor([0, 1]), cfg, generator=torch.Generator().manual_seed(0))
    loss.backward()
    grad = raw.grad
    assert grad is not None and bool(torch.isfinite(grad).all())
    # class 0's corner pixels must rise (negative gradient) on image 0, class 1's on image 1
    assert float(grad[0, :8, :8].mean()) < 0 and float(grad[1, -8:, -8:].mean()) < 0
    assert float((grad != 0).float().mean()) > 0.5  # pixel level, not a few cells


def test_standardized_maps_have_zero_mean_and_unit_spread() -> None:
    m = 5.0 + 3.0 * torch.randn(3, 10, 10, generator=torch.Generator().manual_seed(0))
    z = standardized(m)
    assert z.flatten(1).mean(1).abs().max() < 1e-5
    assert z.flatten(1).std(1, correction=0).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert bool(torch.isfinite(standardized(torch.ones(1, 4, 4))).all())  # a flat map stays finite
    assert standardized(torch.full((2, 1, 1), 3.0)).tolist() == [[[0.0]], [[0.0]]]  # so does a single pixel


def test_bad_threshold_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="threshold_temperature"):
        SoftLossConfig(ranking="threshold", threshold_temperature=0.0)
    model, x, maps = _case()
    with pytest.raises(ConfigError, match="threshold_curves"):
        soft_curves(model, x, maps, torch.tensor([0, 1]), grid=4, reference=x, ranking="threshold")
