"""Grad-CAM against hand computations (CNN) and token-grid alignment (ViT)."""
from __future__ import annotations

import pytest
import torch

from l2r_core.attribution import attribute
from l2r_core.attribution.layers import find_target_layer, tokens_to_grid
from l2r_core.errors import ConfigError

from .fixtures_models import module_model, hand_cnn, identity_blocks_vit, timm_adapter, tiny_cnn, tiny_vit


def _hand_cam(act: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(score, act)
    alpha = grad.mean(dim=(2, 3), keepdim=True)
    return torch.relu((alpha * act).sum(1))


def test_gradcam_equals_hand_computation_on_tiny_cnn() -> None:
    net = hand_cnn()
    model = module_model(net, (12, 12), 3)
    x, t = torch.randn(3, 3, 12, 12), torch.tensor([0, 2, 1])
    assert find_target_layer(model, x).name == "1"  # the ReLU: last spatial map before pooling
    act = net[1](net[0](x)).requires_grad_(True)
    logits = net[4](net[3](net[2](act)))
    want = _hand_cam(act, logits.gather(1, t[:, None]).sum())
    got = attribute("gradcam", model, x, t, batch_limit=2)
    assert got.shape == (3, 12, 12)
    assert torch.allclose(got, want, atol=1e-6) and want.abs().sum() > 0
    # the layer option reads the conv output instead
    conv = net[0](x).requires_grad_(True)
    want0 = _hand_cam(conv, net[4](net[3](net[2](net[1](conv)))).gather(1, t[:, None]).sum())
    assert torch.allclose(attribute("gradcam", model, x, t, layer="0"), want0, atol=1e-6)


def test_gradcam_timm_cnn_reads_map_before_global_pool() -> None:
    model = tiny_cnn(64)
    net = model.module
    x, t = torch.randn(2, 3, 64, 64), torch.tensor([1, 3])
    feat = net.forward_features(x).requires_grad_(True)
    want = _hand_cam(feat, net.forward_head(feat).gather(1, t[:, None]).sum())  # (2, 2, 2)
    want = torch.nn.functional.interpolate(want[:, None], size=(64, 64), mode="bilinear", align_corners=False)[:, 0]
    got = attribute("gradcam", model, x, t)
    assert torch.allclose(got, want, atol=1e-5) and got.max() > 0


@pytest.mark.parametrize("arch", ["efficientnet_b0", "tf_efficientnet_lite0"])
def test_gradcam_efficientnets_pick_global_pool_input(arch: str) -> None:
    model = timm_adapter(arch, 32)
    layer = find_target_layer(model, torch.zeros(1, 3, 32, 32))
    assert layer.name == "global_pool" and layer.use_input
    out = attribute("gradcam", model, torch.randn(1, 3, 32, 32), 0)
    assert out.shape == (1, 32, 32) and torch.isfinite(out).all()


def test_tokens_to_grid_drops_prefix_row_major() -> None:
    tok = torch.arange(2 * (3 + 6) * 1, dtype=torch.float32).view(2, 9, 1)
    grid = tokens_to_grid(tok, 3, 2, 3)
    assert grid.shape == (2, 1, 2, 3)
    assert grid[0, 0].tolist() == [[3, 4, 5], [6, 7, 8]]
    with pytest.raises(ConfigError):
        tokens_to_grid(tok, 2, 2, 3)


def test_gradcam_vit_peaks_on_the_patch_the_model_reads() -> None:
    # 3x4 patch grid (non-square, so a transposed reshape would show), class + 2 register tokens
    model = tiny_vit((24, 32), num_classes=2, reg_tokens=2, global_pool="avg", final_norm=False)
    identity_blocks_vit(model.module)
    assert find_target_layer(model, torch.zeros(1, 3, 24, 32)).name == "blocks.1"
    for row, col in [(0, 3), (2, 1)]:
        x = torch.zeros(1, 3, 24, 32)
        x[:, :, row * 8:(row + 1) * 8, col * 8:(col + 1) * 8] = 1.0
        cam = attribute("gradcam", model, x, 0)
        assert cam.shape == (1, 24, 32)
        pooled = torch.nn.functional.avg_pool2d(cam[:, None], 8)[0, 0]
        assert pooled.shape == (3, 4)
        assert divmod(int(pooled.argmax()), 4) == (row, col)


def test_gradcam_class_token_vit_uses_last_attention_input() -> None:
    model = tiny_vit(32)
    layer = find_target_layer(model, torch.zeros(1, 3, 32, 32))
    assert layer.name == "blocks.1.norm1"  # the last block's output would have zero patch gradients
    cam = attribute("gradcam", model, torch.randn(2, 3, 32, 32), [0, 1])
    assert cam.shape == (2, 32, 32) and torch.isfinite(cam).all() and (cam.flatten(1).amax(1) > 0).all()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_gradcam_rejects_torchscript(tmp_path) -> None:
    from l2r_core.models.torchscript_adapter import load_torchscript
    from l2r_core.models.preprocessing import Preprocessing

    path = tmp_path / "m.pt"
    torch.jit.trace(hand_cnn().eval(), torch.zeros(1, 3, 12, 12)).save(str(path))
    model = load_torchscript(path, Preprocessing(input_size=(12, 12)))
    with pytest.raises(ConfigError, match="Integrated Gradients or RISE"):
        attribute("gradcam", model, torch.zeros(1, 3, 12, 12), 0)
