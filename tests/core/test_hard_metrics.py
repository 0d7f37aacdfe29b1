"""Hard deletion/insertion: exact values on a model whose output is a known function of pixels."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from l2r_core.metrics.hard import deletion_insertion, pixel_ranks
from l2r_core.metrics.protocols import PROTOCOLS, get_protocol
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.preprocessing import Preprocessing


class WeightedSum(nn.Module):
    """logit0 = sum(w * x[:, 0]), logit1 = 0: the class-0 probability is sigmoid of a known sum."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("w", weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x[:, 0] * self.w).flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


class Adapter(ModelAdapter):
    kind = "test"
    supports_grad = True

    def __init__(self, net: nn.Module, size: int) -> None:
        super().__init__("weighted-sum", Preprocessing(input_size=(size, size), mean=(0.5,) * 3, std=(0.5,) * 3),
                         ["a", "b"], "0")
        self.net = net

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def hand_curves(w: np.ndarray, order: list[int], counts: list[int]) -> tuple[list[float], list[float]]:
    """Deletion/insertion probabilities computed pixel by pixel: image = ones, reference = zeros."""
    flat = w.reshape(-1)
    dele, ins = [], []
    for k in counts:
        removed = set(order[:k])
        kept = sum(flat[j] for j in range(flat.size) if j not in removed)
        revealed = sum(flat[j] for j in order[:k])
        dele.append(1 / (1 + math.exp(-kept)))
        ins.append(1 / (1 + math.exp(-revealed)))
    return dele, ins


def trapezoid(y: list[float], x: list[float]) -> float:
    return sum((y[i] + y[i + 1]) / 2 * (x[i + 1] - x[i]) for i in range(len(y) - 1))


@pytest.fixture()
def setup() -> tuple[Adapter, torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(3)
    w = torch.randn(8, 8, generator=g) * 0.5
    return Adapter(WeightedSum(w), 8), torch.ones(1, 3, 8, 8), w.numpy()


def test_aha_matches_hand_computation(setup: tuple[Adapter, torch.Tensor, np.ndarray]) -> None:
    model, x, w = setup
    res = deletion_insertion(model, x, torch.from_numpy(w)[None], targets=[0], protocol="aha")
    order = list(np.argsort(-w.reshape(-1), kind="stable"))
    counts = [round(i * 64 / 20) for i in range(21)]
    dele, ins = hand_curves(w, order, counts)
    fr = [c / 64 for c in counts]
    assert res.protocol == "aha"
    np.testing.assert_allclose(res.fractions, fr, atol=1e-12)
    np.testing.assert_allclose(res.deletion[0], dele, atol=1e-6)
    np.testing.assert_allclose(res.insertion[0], ins, atol=1e-6)
    assert abs(res.deletion_auc[0] - trapezoid(dele, fr)) < 1e-6
    assert abs(res.insertion_auc[0] - trapezoid(ins, fr)) < 1e-6


def test_true_order_beats_random_and_reversed(setup: tuple[Adapter, torch.Tensor, np.ndarray]) -> None:
    model, x, w = setup
    true = torch.from_numpy(w)[None]
    rand = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(1))
    r_true = deletion_insertion(model, x, true, [0])
    r_rand = deletion_insertion(model, x, rand, [0])
    r_rev = deletion_insertion(model, x, -true, [0])
    assert r_true.deletion_auc[0] < r_rand.deletion_auc[0] < r_rev.deletion_auc[0]
    assert r_true.insertion_auc[0] > r_rand.insertion_auc[0] > r_rev.insertion_auc[0]


def test_batch_limit_and_batching_do_not_change_results(setup: tuple[Adapter, torch.Tensor, np.ndarray]) -> None:
    model, x, w = setup
    maps = torch.stack([torch.from_numpy(w), torch.rand(8, 8)])
    xb = torch.cat([x, x])
    a = deletion_insertion(model, xb, maps, [0, 0], batch_limit=64)
    b = deletion_insertion(model, xb, maps, [0, 0], batch_limit=3)
    np.testing.assert_allclose(a.deletion, b.deletion, atol=1e-7)
    single = deletion_insertion(model, x, maps[1:], [0])
    np.testing.assert_allclose(a.insertion[1], single.insertion[0], atol=1e-7)


def test_logit_score_and_sum_area() -> None:
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    model = Adapter(WeightedSum(w), 2)
    res = deletion_insertion(model, torch.ones(1, 3, 2, 2), w[None], [0], protocol="xplique")
    # xplique: 11 points, logit, zero baseline: deletion logit = kept weight sum
    counts = [round(i * 4 / 10) for i in range(11)]
    order = [3, 2, 1, 0]
    expected = [10.0 - sum(w.reshape(-1)[order[:k]].tolist()) for k in counts]
    np.testing.assert_allclose(res.deletion[0], expected, atol=1e-6)


def test_presets_match_documented_definitions() -> None:
    aha, rise, xpl, ov = (get_protocol(n) for n in ("aha", "rise", "xplique", "openvino"))
    assert len(aha.fractions_count(224 * 224)) == 21 and aha.fractions_count(100)[1] == 5
    assert (aha.deletion_reference, aha.insertion_start, aha.score) == ("mean", "mean", "softmax")
    rc = rise.fractions_count(224 * 224)
    assert len(rc) == 225 and rc[1] == 224 and rc[-1] == 224 * 224
    assert (rise.deletion_reference, rise.insertion_start, rise.blur_size, rise.blur_sigma) == ("zero", "blur", 11, 5.0)
    assert len(xpl.fractions_count(1000)) == 11 and xpl.score == "logit" and xpl.deletion_reference == "zero"
    assert len(ov.fractions_count(1000)) == 31 and ov.deletion_reference == ov.insertion_start == "black"
    assert set(PROTOCOLS) >= {"aha", "rise", "xplique", "openvino"}
    for p in PROTOCOLS.values():
        assert p.name in p.description.lower() or p.description


def test_nan_model_reports_and_continues() -> None:
    class NaNNet(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(x.shape[0], 2)
            out[x[:, 0, 0, 0] == 0] = float("nan")
            return out

    res = deletion_insertion(Adapter(NaNNet(), 4), torch.ones(1, 3, 4, 4), torch.rand(1, 4, 4), [0])
    assert np.isnan(res.deletion_auc[0]) and res.warnings


def test_pixel_ranks_is_inverse_argsort() -> None:
    m = torch.tensor([[[0.1, 0.9], [0.5, 0.9]]])
    assert pixel_ranks(m).tolist() == [[3, 0, 2, 1]]
