"""Soft (differentiable) deletion / insertion curves and the L2R training loss (docs/architecture.md, "l2r_core").

Pipeline: raw map -> cell scores (average pool) -> soft ranking (Gumbel-Sinkhorn, or rank buckets)
-> per-percentile soft deletion masks -> upsample, smooth, blend towards a reference -> target-class
softmax probability of every blended image -> curves and trapezoid AUCs.

Insertion is the least-important-first deletion (ranking by -score) read as insertion. With the
same soft plan that image is exactly ``lerp(reference, x, deletion_mask)`` (the cell masks sum to
1 over all ranks), so both curves share one plan and one mask per percentile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from ..config_base import ConfigBase
from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from ..ranking import DEFAULT_SCORE_CAP, NORMALIZE_MODES, gumbel_sinkhorn, sinkhorn_buckets
from .blend import SoftCurves, blend_probs, endpoint_probs, sample_percentiles, sampled_curves
from .peak import peak_penalty
from .references import REFERENCE_KINDS, make_reference
from .threshold import standardized, threshold_curves

RANKINGS = ("full", "buckets", "threshold")  # threshold: pixel-level, metrics/threshold.py
MAX_FULL_CELLS = 4096  # the N x N plan: 64 x 64 cells is already 16.7 M numbers per image


def _prefix_weights(percentiles: torch.Tensor, units: int) -> torch.Tensor:
    """(..., units) weights w: (w @ rows)[p] = interpolated cumulative sum of the first p*units rows.

    Row ``floor(p*units)`` enters with the fractional part, i.e. linear interpolation between
    cumulative rows floor(pN) and floor(pN)+1 (clamped at N) of the zero-prefixed cumulative sum.
    """
    if percentiles.min() < 0 or percentiles.max() > 1:
        raise ValueError("percentiles must lie in [0, 1]")
    pos = percentiles.double() * units
    idx = torch.arange(units, dtype=torch.float64, device=percentiles.device)
    w = (pos[..., None] - idx).clamp(0.0, 1.0)
    return w.float()


def soft_deletion_masks(perm: torch.Tensor, percentiles: torch.Tensor) -> torch.Tensor:
    """(B, P, N) fraction of each cell deleted once a fraction p of the ranks is removed.

    ``perm`` is a soft permutation (B, N ranks, N cells), row 0 = most important.
    ``percentiles`` is (P,), or (B, P) for points drawn per row.
    """
    w = _prefix_weights(percentiles.to(perm.device), perm.shape[1]).to(perm.dtype)
    return torch.einsum("pr,brn->bpn" if w.dim() == 2 else "bpr,brn->bpn", w, perm)


def bucket_deletion_masks(plan: torch.Tensor, percentiles: torch.Tensor) -> torch.Tensor:
    """(B, P, N) deletion masks from a bucket plan (B, N cells, K buckets), bucket 0 first.

    Each bucket holds 1/K of the cells, so percentile p removes p*K buckets (interpolated).
    """
    w = _prefix_weights(percentiles.to(plan.device), plan.shape[2]).to(plan.dtype)
    return torch.einsum("pk,bnk->bpn" if w.dim() == 2 else "bpk,bnk->bpn", w, plan)


def cell_scores(raw_map: torch.Tensor, grid: int | None) -> torch.Tensor:
    """(B, G*G) float32 scores: ``raw_map`` (B, H, W) average-pooled to G x G (None: as is)."""
    if raw_map.dim() != 3:
        raise ValueError(f"raw_map must be (B, H, W), got {tuple(raw_map.shape)}")
    m = raw_map.float()[:, None]
    if grid is not None and tuple(m.shape[-2:]) != (grid, grid):
        m = F.adaptive_avg_pool2d(m, grid)
    return m.flatten(1)


def _cell_masks(scores: torch.Tensor, percentiles: torch.Tensor, ranking: str, tau: float,
                n_iters: int, noise: bool, generator: torch.Generator | None,
                n_buckets: int, normalize: str, cap: float) -> torch.Tensor:
    if ranking == "full":
        if scores.shape[1] > MAX_FULL_CELLS:
            raise ConfigError(f"full ranking of {scores.shape[1]} cells is too large "
                              f"(max {MAX_FULL_CELLS}); use ranking='buckets' or a smaller grid")
        perm = gumbel_sinkhorn(scores, tau, n_iters, noise, generator, normalize, cap)
        return soft_deletion_masks(perm, percentiles)
    if ranking == "buckets":
        plan = sinkhorn_buckets(scores, min(n_buckets, scores.shape[1]), tau, n_iters, noise,
                                generator, normalize, cap)
        return bucket_deletion_masks(plan, percentiles)
    raise ConfigError(f"soft_curves ranks cells by 'full' or 'buckets', not '{ranking}' "
                      f"('threshold' curves come from metrics.threshold.threshold_curves)")


def soft_curves(model: ModelAdapter, x: torch.Tensor, raw_map: torch.Tensor,
                targets: torch.Tensor, *, grid: int | None, reference: torch.Tensor,
                tau: float = 1.0, n_iters: int = 30, n_percentiles: int = 16,
                noise: bool = True, generator: torch.Generator | None = None,
                smooth_sigma: float = 1.0, ranking: str = "full", n_buckets: int = 32,
                normalize: str = "softcap", score_cap: float = DEFAULT_SCORE_CAP,
                batch_limit: int | None = None, percentile_samples: int = 0,
                ends: tuple[torch.Tensor, torch.Tensor] | None = None) -> SoftCurves:
    """Soft deletion and insertion curves of ``raw_map`` (B, H, W) for images ``x`` (B, C, H, W).

    ``grid``: the map is average-pooled to grid x grid cells (None: ranked at its own
    resolution, for ``ranking='buckets'``). ``reference`` (B, C, H, W) is what deleted cells
    become (see ``references.make_reference``). ``targets`` (B,) are class indices. Model calls
    take at most ``batch_limit`` images (None: all B * P * 2 at once). ``percentile_samples``
    k > 0 evaluates only k interior points per image, drawn by ``sample_percentiles``, plus the
    two ends without gradient; the AUCs are then unbiased estimates of the full ones. The
    target's cost with gradient falls from P to k points per curve. ``ends``: the ends' target
    probabilities from ``endpoint_probs``, when the caller already has them (refinement reuses
    them every step). Differentiable w.r.t. ``raw_map`` when the model is.
    """
    if x.dim() != 4 or reference.shape != x.shape or raw_map.shape[0] != x.shape[0]:
        raise ValueError("x and reference must be (B, C, H, W) and raw_map (B, H, W)")
    if n_percentiles < 2:
        raise ValueError("n_percentiles must be at least 2")
    if percentile_samples >= n_percentiles - 2:
        percentile_samples = 0  # every interior point is drawn anyway
    with record_function("l2r.ranking"):
        scores = cell_scores(raw_map, grid)
        pct = torch.linspace(0.0, 1.0, n_percentiles, device=scores.device)
        if percentile_samples:
            idx, weights = sample_percentiles(n_percentiles, percentile_samples, x.shape[0], generator)
            pct = pct[idx.to(scores.device)]
        masks = _cell_masks(scores, pct, ranking, tau, n_iters, noise, generator, n_buckets, normalize,
                            score_cap)
    side = (raw_map.shape[-2], raw_map.shape[-1]) if grid is None else (grid, grid)
    with record_function("l2r.target_forward"):
        dele, ins = blend_probs(model, x, reference, masks.view(*masks.shape[:2], *side),
                                targets, smooth_sigma, batch_limit)
    pct_c, fraction = pct.to(dele.device), masks.mean(-1).to(dele.device)
    if not percentile_samples:
        return SoftCurves(pct_c, dele, ins, torch.trapezoid(dele, pct_c, dim=-1),
                          torch.trapezoid(ins, pct_c, dim=-1), fraction)
    with record_function("l2r.target_forward"):
        ends = ends if ends is not None else endpoint_probs(model, x, reference, targets, batch_limit)
    return sampled_curves(pct_c, dele, ins, ends, weights, n_percentiles, fraction)


@dataclass
class SoftLossConfig(ConfigBase):
    """Settings of the soft deletion/insertion loss; defaults are the L2R paper's."""

    config_name: ClassVar[str] = "soft-loss settings"

    grid_min: int = 7
    grid_max: int = 28
    tau_start: float = 1.0
    tau_end: float = 0.3
    n_iters: int = 30
    n_percentiles: int = 16
    references: tuple[str, ...] = ("black", "mean", "blur")
    blur_size: int = 37
    blur_sigma: float = 37.0
    smooth_sigma: float = 1.0
    w_del: float = 1.0
    w_ins: float = 1.0
    w_peak: float = 0.0025
    peak_window: int = 15
    ranking: str = "full"
    n_buckets: int = 32
    bucket_resolution: int = 56  # cells per side ranked by 'buckets'
    # 'threshold': each map is standardised (mean 0, std 1) and its deletion masks are
    # sigmoid((z - q_p) / threshold_temperature) at the map's own quantiles q_p; no grid, no tau.
    threshold_temperature: float = 0.1
    # How scores enter the ranking (ranking.sinkhorn's note): "softcap" bounds each map's spread
    # by score_cap so the learned sharpness cannot outgrow what float32 Sinkhorn handles;
    # "none" is the paper's raw scores (its scale grew without bound and training diverged).
    normalize: str = "softcap"
    score_cap: float = DEFAULT_SCORE_CAP
    # The paper applies the peak penalty to the raw map. Our raw scores are un-normalised and
    # their scale is the ranking's inverse temperature, which training grows; on the raw map the
    # quadratic penalty then grows with it and swamped the AUC terms (loss 1.0 -> 400 in a
    # demo-cnn run). "std" divides each map by its own standard deviation (when above 1) first.
    peak_scale: str = "std"  # "std" | "raw" (the paper's form)
    # k > 0: each image's curves are estimated from k interior percentiles drawn per step
    # (stratified, unbiased; ``sample_percentiles``) instead of all of them. 0, or k at least the
    # n_percentiles - 2 interior points: every point.
    percentile_samples: int = 0

    def __post_init__(self) -> None:
        self.references = tuple(self.references)
        if not 1 <= self.grid_min <= self.grid_max:
            raise ConfigError("need 1 <= grid_min <= grid_max")
        if self.tau_start <= 0 or self.tau_end <= 0:
            raise ConfigError("tau_start and tau_end must be positive")
        if self.ranking not in RANKINGS:
            raise ConfigError(f"ranking must be one of {RANKINGS}")
        bad = [r for r in self.references if r not in REFERENCE_KINDS]
        if bad or not self.references:
            raise ConfigError(f"references must be a non-empty subset of {REFERENCE_KINDS}")
        if self.n_percentiles < 2 or self.n_iters < 0 or self.peak_window % 2 == 0:
            raise ConfigError("need n_percentiles >= 2, n_iters >= 0 and an odd peak_window")
        if self.normalize not in NORMALIZE_MODES:
            raise ConfigError(f"normalize must be one of {NORMALIZE_MODES}")
        if not self.score_cap > 0:
            raise ConfigError("score_cap must be positive")
        if self.peak_scale not in ("std", "raw"):
            raise ConfigError("peak_scale must be 'std' or 'raw'")
        if not self.threshold_temperature > 0:
            raise ConfigError("threshold_temperature must be positive")
        if self.percentile_samples < 0:
            raise ConfigError("percentile_samples must be >= 0 (0: every point)")

    @classmethod
    def prepare(cls, kwargs: dict[str, Any], source: str) -> dict[str, Any]:
        if "references" in kwargs:
            kwargs["references"] = tuple(kwargs["references"])
        return kwargs

    def tau_at(self, step: int, total: int) -> float:
        """Linear anneal: tau_start at step 0, tau_end at step ``total`` (and after)."""
        frac = 1.0 if total <= 0 else min(max(step / total, 0.0), 1.0)
        return self.tau_start + (self.tau_end - self.tau_start) * frac

    def sample_grid(self, generator: torch.Generator | None = None) -> int:
        """Grid size drawn uniformly from [grid_min, grid_max], both included."""
        dev = generator.device if generator is not None else "cpu"
        return int(torch.randint(self.grid_min, self.grid_max + 1, (1,), generator=generator,
                                 device=dev))

    def sample_reference(self, generator: torch.Generator | None = None) -> str:
        dev = generator.device if generator is not None else "cpu"
        i = int(torch.randint(len(self.references), (1,), generator=generator, device=dev))
        return self.references[i]


def soft_rank_loss(model: ModelAdapter, x: torch.Tensor, raw_map: torch.Tensor,
                   targets: torch.Tensor, config: SoftLossConfig | None = None, *,
                   tau: float | None = None, grid: int | None = None,
                   reference: torch.Tensor | str | None = None,
                   noise: bool = True, generator: torch.Generator | None = None,
                   batch_limit: int | None = None,
                   ends: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, SoftCurves]:
    """w_del * AUC_del + w_ins * (1 - AUC_ins) + w_peak * peak_penalty(raw_map), batch-averaged.

    Unset arguments come from ``config``: ``tau`` = tau_start (trainers pass
    ``config.tau_at(step, total)``); ``grid`` = ``config.sample_grid(generator)`` for 'full'
    ranking, ``bucket_resolution`` for 'buckets', unused by 'threshold' (pixel level, on the
    21-point curve of the 'aha' protocol, with ``percentile_samples`` of its points); ``reference`` = a kind drawn from
    ``config.references`` (a kind name or a ready (B, C, H, W) tensor may be given).
    Returns the scalar loss and the curves (still attached to the graph).
    """
    cfg = config or SoftLossConfig()
    if raw_map.requires_grad and torch.is_grad_enabled() and not model.supports_grad:
        raise ConfigError(f"{model.name}: the soft loss needs a differentiable (torch) model")
    if grid is None and cfg.ranking != "threshold":  # buckets: never rank more cells than the map has pixels
        grid = (cfg.sample_grid(generator) if cfg.ranking == "full"
                else min(cfg.bucket_resolution, *raw_map.shape[-2:]))
    if reference is None:
        reference = cfg.sample_reference(generator)
    if isinstance(reference, str):
        reference = make_reference(reference, x, model.preprocessing, cfg.blur_size,
                                   cfg.blur_sigma)
    if cfg.ranking == "threshold":
        curves = threshold_curves(model, x, standardized(raw_map), targets, reference.detach(),
                                  samples=cfg.percentile_samples, temperature=cfg.threshold_temperature,
                                  generator=generator, batch_limit=batch_limit, ends=ends)
    else:
        curves = soft_curves(model, x, raw_map, targets, grid=grid, reference=reference.detach(),
                             tau=cfg.tau_start if tau is None else tau, n_iters=cfg.n_iters,
                             n_percentiles=cfg.n_percentiles, noise=noise, generator=generator,
                             smooth_sigma=cfg.smooth_sigma, ranking=cfg.ranking,
                             n_buckets=cfg.n_buckets, normalize=cfg.normalize,
                             score_cap=cfg.score_cap, batch_limit=batch_limit,
                             percentile_samples=cfg.percentile_samples, ends=ends)
    loss = (cfg.w_del * curves.deletion_auc.mean()
            + cfg.w_ins * (1.0 - curves.insertion_auc).mean())
    if cfg.w_peak:
        pm = raw_map
        if cfg.peak_scale == "std":
            # below unit spread the raw form applies (and a near-constant map is not amplified)
            pm = raw_map / raw_map.float().flatten(1).std(1).clamp_min(1.0).view(-1, 1, 1)
        loss = loss + cfg.w_peak * peak_penalty(pm, cfg.peak_window).to(loss.device)
    return loss, curves
