"""Attention rollout (Abnar & Zuidema 2020) for timm ViTs.

Each block's attention probabilities are captured at ``attn.attn_drop`` with timm's fused SDPA
path switched off for the duration (``attn.fused_attn = False``, restored on exit). Per block:
fuse heads, optionally zero the weakest ``discard_ratio`` of entries, add the identity (residual),
renormalise rows, and multiply through the layers. The map is the readout row (the class token,
or the mean over patch tokens for average-pooled heads) over the patch tokens.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from ..progress import Progress
from .hooks import HookSession
from .layers import upsample_maps
from .model_info import is_scripted, is_transformer, vit_layout, vit_readout
from .registry import register_method


def record_attention(session: HookSession, model: ModelAdapter, store: list[torch.Tensor]) -> None:
    """Hook every block so one forward pass appends its (B,heads,N,N) attention probabilities."""
    root = model.module
    if is_scripted(model):
        raise ConfigError(f"{model.name}: a TorchScript model takes no hooks, so its attention cannot be read. "
                          f"Load the timm model with its weights, or use RISE.")
    if root is None or not is_transformer(model):
        raise ConfigError(f"{model.name}: attention methods need a vision transformer (timm ViT)")
    for i, block in enumerate(root.blocks):
        attn = block.attn
        if not hasattr(attn, "attn_drop"):
            raise ConfigError(f"{model.name}: block {i} attention ({type(attn).__name__}) does not expose its "
                              f"attention probabilities; rollout and GAE support timm's standard Attention")
        if hasattr(attn, "fused_attn"):
            session.set_attr(attn, "fused_attn", False)  # SDPA never materialises the probabilities
        session.forward(attn.attn_drop, lambda _m, _a, out: store.append(out))


def check_attention(model: ModelAdapter, store: list[torch.Tensor]) -> None:
    n = len(model.module.blocks)  # type: ignore[union-attr]
    if len(store) != n or any(a.ndim != 4 for a in store):
        raise ConfigError(f"{model.name}: captured {len(store)} attention maps for {n} blocks; this transformer "
                          f"computes attention in a way rollout/GAE cannot observe")


def relevance_to_map(model: ModelAdapter, r: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,N,N) token relevance -> (B,H,W): readout row(s) over the patch tokens, on the grid."""
    prefix, gh, gw = vit_layout(model, size)
    if r.shape[-1] - prefix != gh * gw:
        raise ConfigError(f"{r.shape[-1]} tokens do not fit {prefix} prefix tokens and a {gh}x{gw} grid")
    row = r[:, 0, prefix:] if vit_readout(model) == "token" else r[:, prefix:, prefix:].mean(1)
    return upsample_maps(row.reshape(-1, gh, gw), size)


def _fuse(a: torch.Tensor, head_fusion: str) -> torch.Tensor:
    if head_fusion == "mean":
        return a.mean(1)
    if head_fusion == "max":
        return a.amax(1)
    if head_fusion == "min":
        return a.amin(1)
    raise ConfigError(f"rollout head_fusion '{head_fusion}': choose mean, max or min")


def rollout_matrix(attns: list[torch.Tensor], discard_ratio: float = 0.0, head_fusion: str = "mean") -> torch.Tensor:
    """Rolled-out (B,N,N) token-to-token attention from per-block (B,heads,N,N) probabilities."""
    b, _, n, _ = attns[0].shape
    eye = torch.eye(n, device=attns[0].device, dtype=torch.float32)
    r = eye.expand(b, n, n).clone()
    for att in attns:
        a = _fuse(att.float(), head_fusion)
        k = int(n * n * float(discard_ratio))
        if k > 0:
            thr = a.flatten(1).kthvalue(k, dim=1).values[:, None, None]
            a = torch.where(a <= thr, torch.zeros_like(a), a)
        a = a + eye
        a = a / a.sum(-1, keepdim=True)
        r = a @ r
    return r


@register_method("rollout", "Attention rollout", needs_grad=False, transformer_only=True, discard_ratio=0.0,
                 head_fusion="mean",
                 description="Attention of the class token, multiplied through all blocks (class-agnostic).")
def rollout(model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *, batch_limit: int,
            progress: Progress, discard_ratio: float = 0.0, head_fusion: str = "mean") -> torch.Tensor:
    if not 0.0 <= float(discard_ratio) < 1.0:
        raise ConfigError(f"rollout discard_ratio must be in [0, 1), got {discard_ratio}")
    size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    out, total, step = [], inputs.shape[0], max(1, int(batch_limit))
    for i in range(0, total, step):
        store: list[torch.Tensor] = []
        with HookSession() as hs, torch.no_grad():
            record_attention(hs, model, store)
            model.logits(inputs[i:i + step])
        check_attention(model, store)
        out.append(relevance_to_map(model, rollout_matrix(store, discard_ratio, head_fusion), size))
        progress.step(min(i + step, total), total, "Attention rollout")
    return torch.cat(out)
