"""bf16 autocast of the target on the CPU: the soft loss and its gradient stay close to float32."""
from __future__ import annotations

import contextlib

import pytest
import torch

from l2r_core.errors import ConfigError
from l2r_core.metrics.soft import SoftLossConfig, soft_rank_loss
from l2r_core.metrics.loss_target import TargetForLoss, cpu_supports_bf16, use_bf16

from ..core.fixtures_models import tiny_vit

needs_bf16 = pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16 (oneDNN)")

# The stated tolerance of the bf16 lever: loss within 0.01, gradient within 5% (relative norm).
LOSS_TOL, GRAD_TOL = 0.01, 0.05


def _loss_and_grad(model, x, raw, targets, ctx) -> tuple[float, torch.Tensor]:
    r = raw.clone().requires_grad_(True)
    cfg = SoftLossConfig(grid_min=8, grid_max=8, percentile_samples=4)
    loss, _ = soft_rank_loss(TargetForLoss(model, ctx, False), x, r, targets, cfg, reference="mean",
                             generator=torch.Generator().manual_seed(0))
    loss.backward()
    return float(loss.detach()), r.grad.flatten()


@needs_bf16
def test_bf16_loss_and_gradient_match_float32_within_the_stated_tolerance() -> None:
    torch.manual_seed(0)
    model = tiny_vit(32, num_classes=5)
    x = torch.randn(4, 3, 32, 32)
    targets = model.logits(x).argmax(-1)
    raw = torch.randn(4, 32, 32)
    loss32, g32 = _loss_and_grad(model, x, raw, targets, contextlib.nullcontext)
    loss16, g16 = _loss_and_grad(model, x, raw, targets, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    assert abs(loss16 - loss32) < LOSS_TOL
    assert float((g16 - g32).norm() / g32.norm()) < GRAD_TOL
    assert float((g16 - g32).abs().max()) > 0  # bf16 really ran: the numbers are not identical


def test_bf16_choice_per_device() -> None:
    cpu = torch.device("cpu")
    assert use_bf16("off", cpu) is False and use_bf16("auto", cpu) is False  # auto: CUDA only
    if cpu_supports_bf16():
        assert use_bf16("bf16", cpu) is True
    else:
        with pytest.raises(ConfigError, match="--amp"):
            use_bf16("bf16", cpu)
