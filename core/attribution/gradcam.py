"""Grad-CAM (Selvaraju et al. 2017): relu(sum_k alpha_k A_k), alpha_k = spatial mean of d y_c / d A_k.

y_c is the target-class logit. The activation A is chosen by ``layers.find_target_layer`` (or the
``layer`` option, a module name); ViT tokens are laid out on the patch grid first.
"""
from __future__ import annotations

import torch

from ..models.adapter import ModelAdapter
from ..progress import Progress
from .hooks import HookSession, record
from .layers import TargetLayer, find_target_layer, upsample_maps
from .registry import OptionSpec, register_method


def _cam_chunk(model: ModelAdapter, x: torch.Tensor, t: torch.Tensor, target: TargetLayer) -> torch.Tensor:
    acts: list[torch.Tensor] = []
    with HookSession() as hs, torch.enable_grad():
        record(hs, target.module, acts, target.use_input)
        # Frozen adapters have no parameter gradients; a grad-requiring input makes the graph.
        x = x.detach().requires_grad_(True)
        logits = model.logits(x)
    if not acts:
        raise RuntimeError(f"layer '{target.name}' was not called in the forward pass")
    act = acts[-1]
    score = logits.gather(1, t[:, None]).sum()  # samples are independent: one backward for the chunk
    (grad,) = torch.autograd.grad(score, act)
    a, g = target.reshape(act.detach()), target.reshape(grad)
    alpha = g.float().mean(dim=(2, 3), keepdim=True)
    return torch.relu((alpha * a.float()).sum(1))


@register_method("gradcam", "Grad-CAM", needs_grad=True, needs_hooks=True,
                 options=(OptionSpec("layer", "layer", None, label="Layer",
                                     help="The activation Grad-CAM reads: automatic is the last feature map "
                                          "(the last block's tokens for a vision transformer); earlier "
                                          "layers give finer, noisier maps."),),
                 description="Gradient-weighted class activation map of the last convolutional stage "
                             "(or the last transformer block's tokens).")
def gradcam(model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *, batch_limit: int,
            progress: Progress, layer: str | None = None) -> torch.Tensor:
    target = find_target_layer(model, inputs, layer)
    size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    out = []
    total = inputs.shape[0]
    step = max(1, int(batch_limit))
    for i in range(0, total, step):
        cam = _cam_chunk(model, inputs[i:i + step], targets[i:i + step], target)
        out.append(upsample_maps(cam, size))
        progress.step(min(i + step, total), total, "Grad-CAM")
    return torch.cat(out)
