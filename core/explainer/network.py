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

from ..metrics.threshold import standardized
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
    EVIDENCE_GAIN_RATE = 20.0

    def __init__(self, config: ExplainerConfig, feature_channels: list[int],
                 feature_sizes: Sequence[Sequence[int]] | None = None, image_channels: int = 0,
                 class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.feature_channels = [int(c) for c in feature_channels]
        self.feature_sizes = [[int(v) for v in sz] for sz in feature_sizes] if feature_sizes else None
        # With class_evidence the last feature map is the one the target's head pools: it feeds the
        # evidence map, not a decoder level.
        self.class_evidence = bool(config.class_evidence)
        level_channels = self.feature_channels[:-1] if self.class_evidence else self.feature_channels
        level_sizes = self.feature_sizes[:-1] if self.class_evidence and self.feature_sizes else self.feature_sizes
        n = len(level_channels)
        if n < 1:
            raise ValueError("L2RDecoder needs at least one feature map")
        s, f, h = config.stage_channels, config.fusion_channels, config.head_channels
        self.token_grid = _same_resolution(level_sizes) and n > 1
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
        if self.class_evidence:
            if self.class_proj is None or self.feature_channels[-1] != self.class_rows.shape[1]:
                raise ValueError("class_evidence needs class_source 'classifier' and a last feature map with as many "
                                 "channels as the classifier's input")
            # Zero-initialised input, log-gain 0: an evidence decoder starts as its own map plus the
            # evidence map scaled to the same spread, in equal parts.
            self.evidence_in = nn.Conv2d(1, f, 1)
            nn.init.zeros_(self.evidence_in.weight)
            nn.init.zeros_(self.evidence_in.bias)
            self.evidence_log_gain = nn.Parameter(torch.zeros(()))
        self.reassemble = nn.ModuleList(
            Reassemble(c, s, config.embed_dim, sc) for c, sc in zip(level_channels, scales))
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
        if len(features) != len(self.feature_channels):
            raise ValueError(f"decoder expects {len(self.feature_channels)} feature maps, got {len(features)}")
        t = targets.to(features[0].device).long().reshape(-1)
        emb = self.class_embed(t)
        if self.class_proj is not None:
            emb = emb + self.class_proj(self.class_rows[t])
        evidence = None
        if self.class_evidence:
            *features, pooled = features
            evidence = self.evidence_map(pooled, t)
        levels = [conv(r(x.to(emb.dtype), emb))
                  for x, r, conv in zip(features, self.reassemble, self.to_fusion)]
        if evidence is not None:
            deepest = F.interpolate(evidence[:, None], size=levels[-1].shape[-2:], mode="bilinear", align_corners=False)
            levels[-1] = levels[-1] + self.evidence_in(deepest.to(levels[-1].dtype))
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
        out = self.head_out(y)[:, 0]
        if evidence is None:
            return out
        full = F.interpolate(evidence[:, None], size=tuple(out_size), mode="bilinear", align_corners=False)[:, 0]
        # Scaled to the own map's spread rather than standardising the own map: the same ranking,
        # without amplifying float noise of a near-flat map (exported graphs must match torch).
        spread = out.flatten(1).std(1, correction=0).clamp_min(1e-6)[:, None, None]
        return out + self.evidence_gain() * spread * full

    def evidence_gain(self) -> torch.Tensor:
        """The evidence map's weight against the decoder's own map (in units of its spread). Adam moves each
        parameter by about the learning rate per step, and this weight must be able to move by
        about e-fold within a few hundred steps, so its log is scaled up."""
        return (self.EVIDENCE_GAIN_RATE * self.evidence_log_gain).exp()

    def evidence_map(self, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, h, w) standardised evidence for each target class: its classifier row (unit RMS) dotted
        with the pooled map at every position. Pooling then the linear head averages exactly this map."""
        return standardized(torch.einsum("bchw,bc->bhw", pooled.float(), self.class_rows[targets]))
