"""Which activation a layer-based method (Grad-CAM) reads, and how tokens become a map.

CNNs: the feature map entering global pooling (the input of timm's ``global_pool``), or, for
other networks, the last module whose output is a spatial 4-D map. ViTs: the last block's tokens
with the prefix (class/register) tokens dropped and the rest laid out on the patch grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from .hooks import HookSession, first_tensor
from .model_info import is_scripted, is_transformer, vit_layout, vit_readout


@dataclass(frozen=True)
class TargetLayer:
    """A module to hook, whether its input or output is the activation, and the reshape that
    turns that activation into (B,C,h,w)."""

    name: str
    module: nn.Module
    use_input: bool
    reshape: Callable[[torch.Tensor], torch.Tensor]


def _spatial(t: torch.Tensor) -> torch.Tensor:
    if t.ndim != 4:
        raise ConfigError(f"the chosen layer gives a {t.ndim}-D activation, not a (B,C,H,W) feature map; "
                          f"pick a convolutional layer with the 'layer' option")
    return t


def tokens_to_grid(tokens: torch.Tensor, num_prefix: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """(B,N,D) tokens -> (B,D,grid_h,grid_w), dropping the ``num_prefix`` leading tokens."""
    if tokens.ndim == 4:  # some ViT variants keep NHWC maps inside the blocks
        return tokens.permute(0, 3, 1, 2)
    b, n, d = tokens.shape
    if n - num_prefix != grid_h * grid_w:
        raise ConfigError(f"{n} tokens do not fit {num_prefix} prefix tokens plus a {grid_h}x{grid_w} patch grid")
    return tokens[:, num_prefix:].transpose(1, 2).reshape(b, d, grid_h, grid_w)


def upsample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,h,w) -> (B,H,W) by bilinear interpolation (identity when already that size)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def _module(root: nn.Module, name: str) -> nn.Module:
    try:
        return root.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in root.named_modules() if n][-8:]
        raise ConfigError(f"no layer named '{name}' in this model; for example: {', '.join(names)}") from None


def _probe_last_spatial(root: nn.Module, example: torch.Tensor) -> str:
    """Name of the last module (in completion order) with a 4-D output larger than 1x1."""
    seen = _probe_spatial_outputs(root, lambda: root(example[:1]))
    if not seen:
        raise ConfigError("found no convolutional feature map in this model; name one with the 'layer' option")
    return seen[-1]


def _probe_spatial_outputs(root: nn.Module, forward: Callable[[], object]) -> list[str]:
    """Modules whose output is a 4-D map larger than 1x1, in the order they finish. Modules that
    hand on the same tensor (a block and its last in-place activation) are listed once, under the
    name of the outermost one, the module a user recognises."""
    finished: dict[int, tuple[int, str]] = {}  # tensor id -> (when, the last module that returned it)
    keep: list[torch.Tensor] = []  # holds the tensors so their ids stay unique during the probe
    with HookSession() as hs, torch.no_grad():
        for name, mod in root.named_modules():
            if not name or isinstance(mod, nn.Identity):  # placeholders would rename the real layer
                continue

            def hook(_m: nn.Module, _a: object, out: object, name: str = name) -> None:
                try:
                    t = first_tensor(out)
                except TypeError:
                    return
                if t.ndim == 4 and t.shape[-1] * t.shape[-2] > 1:
                    keep.append(t)
                    finished[id(t)] = (len(keep), name)
            hs.forward(mod, hook)
        forward()
    return [name for _, name in sorted(finished.values())]


def candidate_layers(model: ModelAdapter) -> list[str]:
    """Layer names the ``layer`` option of Grad-CAM accepts for ``model``: for a ViT every block
    (and, for class-token heads, its ``norm1``); for a CNN the modules that output a spatial
    feature map, found by one forward pass on a zero input of the model's input size. Empty when
    the model takes no hooks (TorchScript, ONNX)."""
    root = model.module
    if root is None or is_scripted(model):
        return []
    if is_transformer(model):
        token = vit_readout(model) == "token"
        return [n for i in range(len(root.blocks)) for n in (f"blocks.{i}.norm1", f"blocks.{i}")
                if token or not n.endswith(".norm1")]
    h, w = model.preprocessing.input_size
    example = torch.zeros(1, model.preprocessing.channels, h, w, device=model.device)
    return _probe_spatial_outputs(root, lambda: model.logits(example))


def _global_pool_name(root: nn.Module) -> str | None:
    # timm CNNs pool in `global_pool` (resnet, efficientnet) or `head.global_pool` (convnext, regnet)
    names = [n for n, _ in root.named_modules() if n == "global_pool" or n.endswith(".global_pool")]
    return min(names, key=lambda n: n.count(".")) if names else None


def find_target_layer(model: ModelAdapter, example: torch.Tensor, layer: str | None = None) -> TargetLayer:
    """The activation Grad-CAM reads for ``model`` on inputs shaped like ``example``."""
    root = model.module
    layer = layer or model.cam_layer
    if root is None or is_scripted(model):
        kind = "TorchScript" if is_scripted(model) else model.kind
        raise ConfigError(f"{model.name}: Grad-CAM needs hooks inside a Python torch module, which a "
                          f"{kind} model does not allow. Use Integrated Gradients or RISE.")
    if is_transformer(model):
        prefix, gh, gw = vit_layout(model, tuple(example.shape[-2:]))  # type: ignore[arg-type]
        if layer is None:
            # A class-token head ignores the last block's patch outputs (zero gradient there), so read
            # the tokens entering the last attention instead, as pytorch-grad-cam does for ViTs.
            layer = f"blocks.{len(root.blocks) - 1}" + (".norm1" if vit_readout(model) == "token" else "")
        return TargetLayer(layer, _module(root, layer), False, lambda t: tokens_to_grid(t, prefix, gh, gw))
    if layer is not None:
        return TargetLayer(layer, _module(root, layer), False, _spatial)
    pool = _global_pool_name(root)
    if pool is not None:
        return TargetLayer(pool, _module(root, pool), True, _spatial)
    name = _probe_last_spatial(root, example)
    return TargetLayer(name, _module(root, name), False, _spatial)
