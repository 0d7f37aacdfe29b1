"""Attention rollout and GAE: attention forced onto one token puts the map's peak on its patch."""
from __future__ import annotations

import pytest
import torch

from l2r_core.attribution import attribute
from l2r_core.attribution.gae import gae_matrix
from l2r_core.attribution.model_info import is_cnn, is_transformer, vit_layout, vit_readout
from l2r_core.attribution.rollout import rollout_matrix

from .fixtures_models import force_attention, tiny_cnn, tiny_vit


def _patch_argmax(sal: torch.Tensor, patch: int, cols: int) -> tuple[int, int]:
    pooled = torch.nn.functional.avg_pool2d(sal[:, None], patch)[0, 0]
    assert pooled.shape[-1] == cols
    return divmod(int(pooled.argmax()), cols)


def test_model_info_layout() -> None:
    vit = tiny_vit((24, 32), reg_tokens=2)
    assert is_transformer(vit) and not is_cnn(vit)
    assert vit_layout(vit) == (3, 3, 4) and vit_readout(vit) == "token"
    assert vit_readout(tiny_vit(32, class_token=False, global_pool="avg")) == "avg"
    cnn = tiny_cnn()
    assert is_cnn(cnn) and not is_transformer(cnn)


@pytest.mark.parametrize("method", ["rollout", "gae"])
@pytest.mark.parametrize("row,col", [(0, 3), (2, 1)])
def test_forced_attention_peaks_on_that_patch(method: str, row: int, col: int) -> None:
    model = tiny_vit((24, 32), num_classes=2, reg_tokens=2)  # 3x4 grid after 3 prefix tokens
    force_attention(model.module, 3 + row * 4 + col)
    x = torch.randn(2, 3, 24, 32)
    sal = attribute(method, model, x, [0, 0], batch_limit=1)
    assert sal.shape == (2, 24, 32) and torch.isfinite(sal).all()
    for i in range(2):
        assert _patch_argmax(sal[i:i + 1], 8, 4) == (row, col)
    assert model.module.blocks[0].attn.fused_attn  # restored


def test_gae_is_class_sensitive() -> None:
    # class 1's logit falls as attention grows: relu(grad * A) removes every contribution
    model = tiny_vit((24, 32), num_classes=2)
    force_attention(model.module, 1 + 5)
    sal = attribute("gae", model, torch.randn(1, 3, 24, 32), 1)
    assert float(sal.abs().max()) < 1e-6


def test_rollout_matrix_by_hand() -> None:
    # two tokens, one head: A = [[0.5,0.5],[0,1]] -> (A+I)/rowsum = [[.75,.25],[0,1]]
    a = torch.tensor([[[[0.5, 0.5], [0.0, 1.0]]]])
    r = rollout_matrix([a, a])
    step = torch.tensor([[0.75, 0.25], [0.0, 1.0]])
    assert torch.allclose(r[0], step @ step)
    # discarding the weakest half zeroes 0.0 and one 0.5 entry before the identity is added
    r_d = rollout_matrix([a], discard_ratio=0.5)
    assert torch.allclose(r_d[0].sum(-1), torch.ones(2))


def test_gae_matrix_by_hand() -> None:
    a = torch.tensor([[[[0.6, 0.4], [0.3, 0.7]], [[0.5, 0.5], [0.5, 0.5]]]])
    g = torch.tensor([[[[1.0, -1.0], [2.0, 0.5]], [[-1.0, 1.0], [0.0, 0.0]]]])
    cam = (g * a).clamp(min=0).mean(1)[0]  # [[0.3, 0.25], [0.3, 0.175]]
    r = torch.eye(2) + cam
    r = r + cam @ r
    assert torch.allclose(gae_matrix([a, a], [g, g])[0], r)


def test_avg_pooled_vit_without_class_token() -> None:
    model = tiny_vit(32, class_token=False, global_pool="avg")
    for method in ("rollout", "gae", "gradcam"):
        sal = attribute(method, model, torch.randn(2, 3, 32, 32), [0, 1])
        assert sal.shape == (2, 32, 32) and torch.isfinite(sal).all() and sal.abs().sum() > 0


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("method", ["rollout", "gae", "gradcam"])
def test_traced_vit_gets_a_clear_error(tmp_path, method: str) -> None:
    from l2r_core.errors import ConfigError
    from l2r_core.models.torchscript_adapter import load_torchscript

    vit = tiny_vit(32)
    path = tmp_path / "vit.pt"
    torch.jit.trace(vit.module, torch.zeros(1, 3, 32, 32)).save(str(path))
    model = load_torchscript(path, vit.preprocessing)
    assert not is_transformer(model)  # so available_methods() does not offer rollout/gae
    with pytest.raises(ConfigError, match="TorchScript"):
        attribute(method, model, torch.zeros(1, 3, 32, 32), 0)
