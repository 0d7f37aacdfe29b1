"""The trainable part of the explainer: a class-conditioned DPT-style decoder.

Input: 4 intermediate NCHW feature maps of a frozen backbone (shallow to deep). ViTs give 4
maps at the patch-grid resolution; DPT's "reassemble" resamples them to 4x, 2x, 1x and 0.5x of
the grid. CNNs already give a pyramid, so each level is only projected. Levels are then fused
top-down with residual conv units, upsampled to the input size and turned into one raw score
per pixel by a small refine block (no sigmoid: ranking only needs the order).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import ExplainerConfig


class FiLM(nn.Module):
    """Class conditioning at every spatial position: h * (1 + gamma_c) + beta_c.

    The beta term alone equals "concatenate the class embedding to every position, then 1x1
    conv" (the paper's join); gamma adds channel gating, which lets a class select the feature
    channels that matter for it. gamma starts at zero so training starts from the concat form.
    """

    def __init__(self, embed_dim: int, channels: int) -> None:
        super().__init__()
        self.to_gamma = nn.Linear(embed_dim, channels)
        self.to_beta = nn.Linear(embed_dim, channels)
        nn.init.zeros_(self.to_gamma.weight)
        nn.init.zeros_(self.to_gamma.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        gamma = self.to_gamma(emb)[:, :, None, None]
        beta = self.to_beta(emb)[:, :, None, None]
        return h * (1 + gamma) + beta


def _resampler(scale: float, ch: int) -> nn.Module:
    """DPT reassemble resampling of a patch-grid map by 4, 2, 1 or 0.5."""
    if scale >= 4:
        return nn.ConvTranspose2d(ch, ch, kernel_size=4, stride=4)
    if scale >= 2:
        return nn.ConvTranspose2d(ch, ch, kernel_size=2, stride=2)
    if scale >= 1:
        return nn.Identity()
    return nn.Conv2d(ch, ch, kernel_size=3, stride=2, padding=1)


class Reassemble(nn.Module):
    """Project one feature map to ``stage_channels``, condition on the class, resample."""

    def __init__(self, in_ch: int, stage_ch: int, embed_dim: int, scale: float) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_ch, stage_ch, kernel_size=1)
        self.film = FiLM(embed_dim, stage_ch)
        self.resample = _resampler(scale, stage_ch)

    def forward(self, f: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.resample(F.relu(self.film(self.project(f), emb)))


class ResidualConvUnit(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """DPT fusion: add the skip (after an RCU) to the coarser path, RCU, 1x1 out-projection."""

    def __init__(self, ch: int, has_skip: bool) -> None:
        super().__init__()
        self.skip_unit = ResidualConvUnit(ch) if has_skip else None
        self.unit = ResidualConvUnit(ch)
        self.out = nn.Conv2d(ch, ch, kernel_size=1)

    def forward(self, path: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None and self.skip_unit is not None:
            path = F.interpolate(path, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            path = path + self.skip_unit(skip)
        return self.out(self.unit(path))


def _same_resolution(sizes: Sequence[Sequence[int]] | None) -> bool:
    return bool(sizes) and all(tuple(s) == tuple(sizes[0]) for s in sizes)  # type: ignore[index]


class L2RDecoder(nn.Module):
    """DPT-style, class-conditioned decoder: 4 feature maps + target classes -> (B,H,W) raw scores.

    ``feature_sizes`` (the maps' (h, w) at the probe input) picks the layout: all equal means a
    ViT token grid (reassemble to 4x/2x/1x/0.5x); otherwise the maps are a CNN pyramid used as is.
    """

    SCALES = (4.0, 2.0, 1.0, 0.5)

    def __init__(self, config: ExplainerConfig, feature_channels: list[int],
                 feature_sizes: Sequence[Sequence[int]] | None = None, image_channels: int = 0,
                 class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        n = len(feature_channels)
        if n < 1:
            raise ValueError("L2RDecoder needs at least one feature map")
        s, f, h = config.stage_channels, config.fusion_channels, config.head_channels
        self.feature_channels = [int(c) for c in feature_channels]
        self.feature_sizes = [[int(v) for v in sz] for sz in feature_sizes] if feature_sizes else None
        self.token_grid = _same_resolution(feature_sizes) and n > 1
        scales = self._scales(n) if self.token_grid else [1.0] * n
        self.class_embed = nn.Embedding(config.num_classes, config.embed_dim)
        nn.init.normal_(self.class_embed.weight, std=1.0)
        self.class_proj: nn.Linear | None = None
        if config.class_source == "classifier":
            if class_weights is None or tuple(class_weights.shape[:1]) != (config.num_classes,):
                raise ValueError("class_source 'classifier' needs the target's (num_classes, D) classifier weights")
            rows = class_weights.detach().float()
            rows = rows / rows.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1e-12)  # unit RMS per class
            # Not saved with the decoder: it is the target's own head, which loading checks by fingerprint.
            self.register_buffer("class_rows", rows, persistent=False)
            self.class_proj = nn.Linear(rows.shape[1], config.embed_dim)
            nn.init.zeros_(self.class_proj.weight)  # starts as the table alone: a table explainer fine-tunes smoothly
            nn.init.zeros_(self.class_proj.bias)
        self.reassemble = nn.ModuleList(
            Reassemble(c, s, config.embed_dim, sc) for c, sc in zip(feature_channels, scales))
        # DPT uses a 3x3 conv here; a 1x1 is 9x cheaper at the finest (stride-4) level, which
        # dominates a CNN target's cost, and the residual units that follow give the spatial context.
        self.to_fusion = nn.ModuleList(nn.Conv2d(s, f, 1, bias=False) for _ in range(n))
        self.fusion = nn.ModuleList(FusionBlock(f, has_skip=i < n - 1) for i in range(n))
        # Refine block: narrow to head_channels at the fused resolution (so the upsampling and the
        # full-resolution convs stay cheap on a CPU), upsample to the input, 3x3 conv, ReLU, 3x3 conv.
        self.head_reduce = nn.Conv2d(f, h, 3, padding=1)
        self.image_channels = int(image_channels) if config.image_skip else 0
        self.head_refine = nn.Conv2d(h + self.image_channels, h, 3, padding=1)
        self.head_out = nn.Conv2d(h, 1, 3, padding=1)

    def _scales(self, n: int) -> list[float]:
        return list(self.SCALES[:n]) if n <= len(self.SCALES) else [1.0] * n

    def forward(self, features: list[torch.Tensor], targets: torch.Tensor,
                out_size: tuple[int, int], image: torch.Tensor | None = None) -> torch.Tensor:
        """``image`` (B, C, H, W), the normalised input, is used (and required) with image_skip."""
        if len(features) != len(self.reassemble):
            raise ValueError(f"decoder expects {len(self.reassemble)} feature maps, got {len(features)}")
        t = targets.to(features[0].device).long().reshape(-1)
        emb = self.class_embed(t)
        if self.class_proj is not None:
            emb = emb + self.class_proj(self.class_rows[t])
        levels = [conv(r(x.to(emb.dtype), emb))
                  for x, r, conv in zip(features, self.reassemble, self.to_fusion)]
        path = self.fusion[-1](levels[-1])
        for i in range(len(levels) - 2, -1, -1):  # top-down: deepest to shallowest
            path = self.fusion[i](path, levels[i])
        y = F.relu(self.head_reduce(path))
        y = F.interpolate(y, size=tuple(out_size), mode="bilinear", align_corners=False)
        if self.image_channels:
            if image is None or image.shape[1] != self.image_channels:
                raise ValueError(f"this decoder needs the input image ({self.image_channels} channels)")
            if tuple(image.shape[-2:]) != tuple(out_size):
                image = F.interpolate(image, size=tuple(out_size), mode="bilinear", align_corners=False)
            y = torch.cat([y, image.to(y.dtype)], dim=1)
        y = F.relu(self.head_refine(y))
        return self.head_out(y)[:, 0]
