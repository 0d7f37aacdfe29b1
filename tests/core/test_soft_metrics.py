"""Soft deletion/insertion curves, the L2R loss, the peak penalty and the loss config."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from l2r_core.errors import ConfigError
from l2r_core.metrics.peak import local_mean, peak_penalty
from l2r_core.metrics.soft import (SoftLossConfig, soft_curves, soft_deletion_masks,
                                   soft_rank_loss)
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.ranking import hard_permutation

GAIN = 4.0  # class-0 logit = GAIN * mean of the top-left 16 x 16 quadrant; class-1 logit = 0


class _Quadrant(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = GAIN * x[:, :, :16, :16].mean(dim=(1, 2, 3))
        return torch.stack([z, torch.zeros_like(z)], dim=1)


class QuadrantAdapter(ModelAdapter):
    """Hand-built classifier whose evidence for class 0 lies in one known region."""

    kind = "test"

    def __init__(self, grad: bool = True) -> None:
        super().__init__("quadrant", Preprocessing(input_size=(32, 32)), ["a", "b"], "test")
        self.net = _Quadrant()
        self.supports_grad = grad

    @property
    def module(self) -> nn.Module:
        return self.net

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _sig(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def _quadrant_map(b: int = 2) -> torch.Tensor:
    m = torch.zeros(b, 32, 32)
    m[:, :16, :16] = 1.0
    return m


def _curves(raw_map: torch.Tensor, **kw: object):
    x = torch.ones(raw_map.shape[0], 3, 32, 32)
    args = dict(grid=4, reference=torch.zeros_like(x), tau=0.01, noise=False)
    args.update(kw)
    return soft_curves(QuadrantAdapter(), x, raw_map, torch.zeros(x.shape[0], dtype=torch.long),
                       **args)


def test_hard_permutation_masks_are_exact_prefixes() -> None:
    s = torch.randn(1, 8)
    masks = soft_deletion_masks(hard_permutation(s), torch.tensor([0.0, 0.25, 0.3125, 1.0]))
    ranks = s[0].argsort(descending=True).argsort()
    assert torch.equal(masks[0, 0], torch.zeros(8))
    assert torch.equal(masks[0, 1], (ranks < 2).float())
    assert torch.allclose(masks[0, 2], (ranks < 2).float() + 0.5 * (ranks == 2).float())
    assert torch.equal(masks[0, 3], torch.ones(8))


def test_curves_match_the_analytic_hard_curve() -> None:
    # 4 of 16 cells hold the evidence; deleting a fraction p of the cells removes min(1, 4p)
    # of it, so with a sharp ranking and no smoothing deletion(p) = sig(GAIN * max(0, 1 - 4p)).
    # Distinct scores on the anchor grid linspace(0, 1, 16) (ties and off-grid scores converge
    # slowly at small tau); the 4 highest sit in the evidence quadrant (cells 0, 1, 4, 5).
    values = torch.linspace(0, 1, 16)
    cells = torch.empty(16)
    region = torch.tensor([0, 1, 4, 5])
    rest = torch.tensor([i for i in range(16) if i not in region.tolist()])
    cells[region] = values[12:]
    cells[rest] = values[:12][torch.randperm(12)]
    raw = cells.view(4, 4).repeat_interleave(8, 0).repeat_interleave(8, 1).expand(2, -1, -1)
    c = _curves(raw, smooth_sigma=0.0, tau=1e-4)
    p = c.percentiles
    expected_del = torch.sigmoid(GAIN * (1 - 4 * p).clamp(min=0))
    expected_ins = torch.sigmoid(GAIN * (4 * p).clamp(max=1))  # the region is inserted first
    assert torch.allclose(c.deletion, expected_del.expand(2, -1), atol=2e-3)
    assert torch.allclose(c.insertion, expected_ins.expand(2, -1), atol=2e-3)
    assert torch.allclose(c.deleted_fraction, p.expand(2, -1), atol=1e-3)
    assert torch.allclose(c.deletion_auc, torch.trapezoid(expected_del, p).expand(2), atol=2e-3)


def test_true_map_beats_reversed_map_and_endpoints_are_exact() -> None:
    gen = torch.Generator().manual_seed(0)
    good = _curves(_quadrant_map())
    bad = _curves(1 - _quadrant_map())
    noisy = _curves(_quadrant_map() * 20, tau=1.0, noise=True, generator=gen)
    assert (good.deletion_auc < bad.deletion_auc - 0.2).all()
    assert (good.insertion_auc > bad.insertion_auc + 0.2).all()
    for c in (good, bad, noisy):  # p=0: untouched image; p=1: all reference (smoothing too)
        assert torch.allclose(c.deletion[:, 0], torch.full((2,), _sig(GAIN)), atol=1e-5)
        assert torch.allclose(c.deletion[:, -1], torch.full((2,), 0.5), atol=1e-5)
        assert torch.allclose(c.insertion[:, 0], torch.full((2,), 0.5), atol=1e-5)
        assert torch.allclose(c.insertion[:, -1], torch.full((2,), _sig(GAIN)), atol=1e-5)
    assert (noisy.deletion_auc < bad.deletion_auc).all()


def test_insertion_is_the_reversed_ranking_deletion_read_backwards() -> None:
    raw = torch.randn(1, 32, 32)
    c = _curves(raw, tau=1.0)
    rev = _curves(-raw, tau=1.0)
    assert torch.allclose(c.insertion, rev.deletion.flip(-1), atol=1e-4)


def test_batch_limit_and_bucket_ranking() -> None:
    raw = _quadrant_map() + 0.01 * torch.randn(2, 32, 32)
    whole = _curves(raw)
    chunked = _curves(raw, batch_limit=3)
    assert torch.allclose(whole.deletion, chunked.deletion, atol=1e-6)
    assert torch.allclose(whole.insertion, chunked.insertion, atol=1e-6)
    good = _curves(_quadrant_map(), ranking="buckets", n_buckets=8, grid=None)  # 1024 pixels
    bad = _curves(1 - _quadrant_map(), ranking="buckets", n_buckets=8, grid=None)
    assert (good.deletion_auc < bad.deletion_auc - 0.2).all()
    assert (good.insertion_auc > bad.insertion_auc + 0.2).all()


def test_full_ranking_refuses_pixel_level() -> None:
    x = torch.ones(1, 3, 80, 80)
    with pytest.raises(ConfigError):
        soft_curves(QuadrantAdapter(), x, torch.randn(1, 80, 80), torch.zeros(1, dtype=torch.long),
                    grid=None, reference=torch.zeros_like(x))


def test_peak_penalty() -> None:
    flat = torch.full((1, 32, 32), 3.0)
    assert peak_penalty(flat) == 0
    assert torch.allclose(local_mean(flat), flat)
    spike = torch.zeros(1, 32, 32)
    spike[0, 16, 16] = 9.0
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    bump = torch.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / (2 * 4.0**2))[None]
    bump = bump * 9.0 / bump.sum()  # same mass as the spike
    assert peak_penalty(spike) > 0
    assert peak_penalty(spike) > 20 * peak_penalty(bump)
    expected = (9.0 - 9.0 / 225) ** 2 / 1024  # only the spike pixel exceeds its local mean
    assert torch.allclose(peak_penalty(spike), torch.tensor(expected), rtol=1e-4)


def test_soft_rank_loss_backpropagates_to_the_map() -> None:
    model = QuadrantAdapter()
    x = torch.ones(2, 3, 32, 32) + 0.1 * torch.randn(2, 3, 32, 32)
    raw = (_quadrant_map() * 5 + torch.randn(2, 32, 32)).requires_grad_()
    cfg = SoftLossConfig(grid_min=4, grid_max=8, peak_scale="raw")  # the paper's formula
    gen = torch.Generator().manual_seed(0)
    loss, curves = soft_rank_loss(model, x, raw, torch.zeros(2, dtype=torch.long), cfg,
                                  tau=cfg.tau_at(5, 10), generator=gen, batch_limit=8)
    expected = (curves.deletion_auc.mean() + (1 - curves.insertion_auc).mean()
                + 0.0025 * peak_penalty(raw))
    assert torch.allclose(loss, expected)
    loss.backward()
    assert raw.grad is not None and torch.isfinite(raw.grad).all()
    assert raw.grad.abs().sum() > 0
    # gradient descent on the loss moves score into the evidence region
    assert raw.grad[:, :16, :16].mean() < raw.grad[:, 16:, 16:].mean()
    with pytest.raises(ConfigError):
        soft_rank_loss(QuadrantAdapter(grad=False), x, raw, torch.zeros(2, dtype=torch.long))


def test_soft_rank_loss_bucket_mode_and_bf16_map() -> None:
    cfg = SoftLossConfig(ranking="buckets", n_buckets=16, bucket_resolution=56)
    x = torch.ones(1, 3, 32, 32)
    raw = (_quadrant_map(1) * 5).bfloat16().requires_grad_()
    loss, curves = soft_rank_loss(QuadrantAdapter(), x, raw, torch.zeros(1, dtype=torch.long), cfg,
                                  reference="mean", generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(raw.grad.float()).all()
    assert curves.deletion.shape == (1, 16) and curves.deletion_auc < curves.insertion_auc


def test_config_round_trip_schedule_and_sampling() -> None:
    cfg = SoftLossConfig()
    assert (cfg.grid_min, cfg.grid_max, cfg.n_iters, cfg.n_percentiles) == (7, 28, 30, 16)
    d = cfg.to_dict()
    assert d["references"] == ["black", "mean", "blur"]
    assert SoftLossConfig.from_dict(d) == cfg
    assert cfg.tau_at(0, 100) == 1.0 and math.isclose(cfg.tau_at(100, 100), 0.3)
    assert math.isclose(cfg.tau_at(50, 100), 0.65) and math.isclose(cfg.tau_at(500, 100), 0.3)
    gen = torch.Generator().manual_seed(0)
    grids = {cfg.sample_grid(gen) for _ in range(400)}
    assert grids == set(range(7, 29))
    assert {cfg.sample_reference(gen) for _ in range(60)} == {"black", "mean", "blur"}
    for bad in ({"grid_min": 9, "grid_max": 8}, {"ranking": "topk"}, {"references": ["noise"]},
                {"tau_end": 0.0}, {"peak_window": 14}):
        with pytest.raises(ConfigError):
            SoftLossConfig(**bad)
    with pytest.raises(ConfigError):
        SoftLossConfig.from_dict({"grid_mn": 3})


def test_std_scaled_peak_penalty_does_not_grow_with_the_map_scale() -> None:
    from l2r_core.metrics.peak import peak_penalty
    from l2r_core.metrics.soft import SoftLossConfig

    m = torch.rand(2, 20, 20, generator=torch.Generator().manual_seed(0))
    scaled = [peak_penalty(k * m / (k * m).flatten(1).std(1).view(-1, 1, 1)) for k in (1.0, 100.0)]
    assert torch.allclose(scaled[0], scaled[1], rtol=1e-4)
    assert peak_penalty(100.0 * m) > 1000 * peak_penalty(m)  # the raw form grows quadratically
    assert SoftLossConfig().peak_scale == "std" and SoftLossConfig(peak_scale="raw").peak_scale == "raw"


def test_sampled_percentile_weights_have_the_trapezoid_weights_as_expectation() -> None:
    from l2r_core.metrics.blend import sample_percentiles, trapezoid_weights

    p, k, rows = 16, 4, 200_000
    idx, w = sample_percentiles(p, k, rows, torch.Generator().manual_seed(0))
    assert idx.shape == w.shape == (rows, k)
    assert int(idx.min()) >= 1 and int(idx.max()) <= p - 2  # interior points only: the ends are exact
    # Strata are contiguous and ordered, so each row's points are distinct and increasing.
    assert bool((idx[:, 1:] > idx[:, :-1]).all())
    expected = torch.zeros(p, dtype=torch.float64).index_add_(0, idx.flatten(), w.flatten().double()) / rows
    tw = trapezoid_weights(p)
    # Every interior point's mean weight is its trapezoid weight (1/15); a weight without the stratum
    # size would give about 1/15 / 3.5 and fail here.
    assert torch.allclose(expected[1:-1], tw[1:-1], rtol=0.02)
    assert float(expected[0]) == float(expected[-1]) == 0.0


def test_sampled_curves_estimate_the_full_auc_without_bias() -> None:
    torch.manual_seed(0)
    raw = torch.randn(2, 32, 32)  # an arbitrary map: the curves are far from straight lines
    x = torch.rand(2, 3, 32, 32) * 2
    args = dict(grid=8, reference=torch.zeros_like(x), tau=0.3, noise=False, n_iters=60, n_percentiles=16)
    model, t = QuadrantAdapter(), torch.zeros(2, dtype=torch.long)
    full = soft_curves(model, x, raw, t, **args)
    gen = torch.Generator().manual_seed(1)
    draws = [soft_curves(model, x, raw, t, generator=gen, percentile_samples=4, **args) for _ in range(400)]
    d = torch.stack([c.deletion_auc for c in draws])
    i = torch.stack([c.insertion_auc for c in draws])
    # The mean of the estimates is the full trapezoid AUC, well inside the Monte-Carlo error.
    for est, ref in ((d, full.deletion_auc), (i, full.insertion_auc)):
        sem = est.std(0) / math.sqrt(est.shape[0])
        assert torch.all((est.mean(0) - ref).abs() < 4 * sem + 1e-3), (est.mean(0), ref, sem)
        assert float(est.std(0).max()) > 1e-4  # the draws really differ: this is not the full sum
    one = draws[0]
    assert one.deletion.shape == (2, 6) and one.percentiles.shape == (2, 6)
    # The ends are the image and the reference themselves.
    assert torch.allclose(one.deletion[:, 0], full.deletion[:, 0], atol=1e-5)
    assert torch.allclose(one.deletion[:, -1], full.deletion[:, -1], atol=1e-4)
    assert torch.allclose(one.insertion[:, 0], full.insertion[:, 0], atol=1e-4)


def test_sampled_loss_backpropagates_and_small_curves_use_every_point() -> None:
    raw = torch.randn(2, 32, 32, requires_grad=True)
    x = torch.rand(2, 3, 32, 32)
    cfg = SoftLossConfig(grid_min=4, grid_max=4, percentile_samples=4)
    loss, curves = soft_rank_loss(QuadrantAdapter(), x, raw, torch.zeros(2, dtype=torch.long), cfg,
                                  reference="black", generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert raw.grad is not None and float(raw.grad.abs().sum()) > 0
    assert curves.deletion.shape == (2, 6)
    few = SoftLossConfig(grid_min=4, grid_max=4, n_percentiles=5, percentile_samples=4)  # 3 interior points
    _, curves = soft_rank_loss(QuadrantAdapter(), x, raw, torch.zeros(2, dtype=torch.long), few, reference="black")
    assert curves.deletion.shape == (2, 5) and curves.percentiles.dim() == 1
    with pytest.raises(ConfigError, match="percentile_samples"):
        SoftLossConfig(percentile_samples=-1)


def test_given_curve_ends_are_used_as_computed() -> None:
    from l2r_core.metrics.blend import endpoint_probs

    torch.manual_seed(0)
    raw, x = torch.randn(2, 32, 32), torch.rand(2, 3, 32, 32)
    ref, t, model = torch.zeros_like(x), torch.zeros(2, dtype=torch.long), QuadrantAdapter()
    args = dict(grid=8, reference=ref, tau=0.3, percentile_samples=4)
    plain = soft_curves(model, x, raw, t, generator=torch.Generator().manual_seed(3), **args)
    ends = endpoint_probs(model, x, ref, t, None)
    cached = soft_curves(model, x, raw, t, generator=torch.Generator().manual_seed(3), ends=ends, **args)
    assert torch.equal(plain.deletion_auc, cached.deletion_auc) and torch.equal(plain.insertion, cached.insertion)
    wrong = soft_curves(model, x, raw, t, generator=torch.Generator().manual_seed(3),
                        ends=(ends[0] * 0, ends[1] * 0), **args)
    assert not torch.equal(plain.deletion_auc, wrong.deletion_auc)  # the given ends really enter the AUC
