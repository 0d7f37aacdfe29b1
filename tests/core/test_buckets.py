"""Rank-bucket transport plans: marginals, hard limit, agreement with the full form, gradients."""
from __future__ import annotations

import pytest
import torch

from l2r_core.metrics.soft import bucket_deletion_masks, soft_deletion_masks
from l2r_core.ranking import gumbel_sinkhorn, hard_buckets, sinkhorn_buckets


@pytest.mark.parametrize("n,k", [(784, 16), (784, 32), (3136, 64)])
def test_marginals(n: int, k: int) -> None:
    s = torch.randn(2, n)
    for noise in (False, True):
        t = sinkhorn_buckets(s, k, noise=noise, generator=torch.Generator().manual_seed(0))
        assert t.shape == (2, n, k)
        assert (t.sum(-1) - 1).abs().max() < 1e-5  # every cell fully assigned (exact)
        assert ((t.sum(-2) - n / k) / (n / k)).abs().max() < 1e-3  # each bucket holds N/K cells


def test_small_tau_puts_the_top_cells_in_bucket_zero() -> None:
    n, k = 64, 8
    s = torch.linspace(0, 1, n)[torch.randperm(n)][None]
    t = sinkhorn_buckets(s, k, tau=0.01, noise=False)
    hard = hard_buckets(s, k)
    assert torch.equal(t.argmax(-1), hard.argmax(-1))
    top = s[0].argsort(descending=True)[: n // k]
    assert set(t[0, :, 0].topk(n // k).indices.tolist()) == set(top.tolist())
    assert t[0, top, 0].min() > 0.5


def test_with_one_bucket_per_cell_it_is_the_full_permutation() -> None:
    s = torch.randn(2, 49)
    full = gumbel_sinkhorn(s, noise=False)  # (B, ranks, cells)
    t = sinkhorn_buckets(s, 49, noise=False)  # (B, cells, buckets)
    assert torch.allclose(t.transpose(1, 2), full, atol=1e-4)
    pct = torch.linspace(0, 1, 16)
    assert torch.allclose(bucket_deletion_masks(t, pct), soft_deletion_masks(full, pct), atol=1e-3)


def test_hard_bucket_masks_delete_whole_buckets() -> None:
    s = torch.randn(1, 64)
    hard = hard_buckets(s, 8)
    masks = bucket_deletion_masks(hard, torch.tensor([0.0, 0.25, 0.3125, 1.0]))
    ranks = s[0].argsort(descending=True).argsort()
    assert torch.equal(masks[0, 0], torch.zeros(64))
    assert torch.equal(masks[0, 1], (ranks < 16).float())  # 2 of 8 buckets gone
    expected = (ranks < 16).float() + 0.5 * ((ranks >= 16) & (ranks < 24)).float()
    assert torch.allclose(masks[0, 2], expected)  # half of the third bucket
    assert torch.equal(masks[0, 3], torch.ones(64))


def test_raising_a_score_moves_the_cell_to_earlier_buckets() -> None:
    s = torch.randn(1, 256, requires_grad=True)
    masks = bucket_deletion_masks(sinkhorn_buckets(s, 16, noise=False), torch.linspace(0, 1, 16))
    for cell in (3, 100, 200):
        kept = 1 - masks[0, 1:6, cell].sum()
        g, = torch.autograd.grad(kept, s, retain_graph=True)
        assert torch.isfinite(g).all() and g[0, cell] < -1e-3


def test_pixel_level_and_bf16() -> None:
    s = torch.randn(1, 224 * 224)
    t = sinkhorn_buckets(s.bfloat16(), 32, n_iters=10, generator=torch.Generator().manual_seed(0))
    ref = sinkhorn_buckets(s.bfloat16().float(), 32, n_iters=10,
                           generator=torch.Generator().manual_seed(0))
    assert t.dtype == torch.bfloat16 and t.shape == (1, 50176, 32)
    assert torch.isfinite(t.float()).all()
    assert (t.float() - ref).abs().max() < 4e-3
    assert ((ref.sum(-2) - 1568) / 1568).abs().max() < 1e-3


def test_rejects_bad_bucket_count() -> None:
    with pytest.raises(ValueError):
        sinkhorn_buckets(torch.randn(1, 8), 9)
    with pytest.raises(ValueError):
        hard_buckets(torch.randn(1, 10), 3)
