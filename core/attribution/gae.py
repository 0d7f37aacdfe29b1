"""Generic Attention-model Explainability (Chefer, Gur & Wolf, ICCV 2021) for timm ViTs.

Gradient-weighted rollout: R = I; for every block, A_bar = mean_heads(relu(dy_c/dA * A)) and
R = R + A_bar @ R, with A the block's attention probabilities and y_c the target-class logit.
The map is the readout row of R (class token, or patch mean) over the patch tokens.
"""
from __future__ import annotations

import torch

from ..models.adapter import ModelAdapter
from ..progress import Progress
from .hooks import HookSession
from .registry import register_method
from .rollout import check_attention, record_attention, relevance_to_map


def gae_matrix(attns: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
    """(B,N,N) relevance from per-block attention probabilities and their gradients."""
    b, _, n, _ = attns[0].shape
    r = torch.eye(n, device=attns[0].device, dtype=torch.float32).expand(b, n, n).clone()
    for a, g in zip(attns, grads):
        cam = (g.float() * a.float()).clamp(min=0).mean(1)
        r = r + cam @ r
    return r


def _chunk(model: ModelAdapter, x: torch.Tensor, t: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    store: list[torch.Tensor] = []
    with HookSession() as hs, torch.enable_grad():
        record_attention(hs, model, store)
        # Frozen adapters have no parameter gradients; a grad-requiring input makes the graph.
        logits = model.logits(x.detach().requires_grad_(True))
    check_attention(model, store)
    # Attention that does not depend on the input (constant maps) has no gradient: zero relevance.
    live = [a for a in store if a.requires_grad]
    found = iter(torch.autograd.grad(logits.gather(1, t[:, None]).sum(), live) if live else ())
    grads = [next(found) if a.requires_grad else torch.zeros_like(a) for a in store]
    return [a.detach() for a in store], grads


@register_method("gae", "Transformer attribution (GAE)", needs_grad=True, transformer_only=True,
                 description="Chefer et al. 2021: attention weighted by its gradient, rolled out over blocks.")
def gae(model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *, batch_limit: int,
        progress: Progress) -> torch.Tensor:
    size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    out, total, step = [], inputs.shape[0], max(1, int(batch_limit))
    for i in range(0, total, step):
        attns, grads = _chunk(model, inputs[i:i + step], targets[i:i + step])
        out.append(relevance_to_map(model, gae_matrix(attns, grads), size))
        progress.step(min(i + step, total), total, "GAE")
    return torch.cat(out)
