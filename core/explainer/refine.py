"""Test-time refinement of one attribution map (L2R paper abstract; not in the authors' code).

Starting from a map (normally the explainer's), take a few gradient steps on THAT image's own soft
deletion/insertion loss. Two relaxations of the curves:

- ``threshold`` (default): every pixel of the map is optimised. Each step draws a few curve points
  and thresholds the map at their quantiles with a sigmoid (``metrics/threshold.py``), so the
  pixels near each threshold move up or down the ranking, which is the order the hard metrics use.
- ``sinkhorn``: the training loss (Gumbel-Sinkhorn on a coarse grid of cells). It only sees whole
  cells, so what is optimised is a low-resolution residual added to the initial map, which keeps
  its fine detail. It moves whole regions; on the hard metrics it gains far less
  (docs/refinement.md).

The map is standardised first so one step size suits maps of any scale (learned explainers,
Grad-CAM, IG); each yielded map is mapped back to the initial scale.

Cancellation: ``progress.step`` is called before every step and raises ``Cancelled``, which
propagates out of the generator (the last yielded map is the caller's result). A consumer that
cancels after receiving step k therefore gets exactly k steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from ..errors import Cancelled, ConfigError, NonFiniteError
from ..metrics.loss_target import TargetForLoss, autocast_context, use_bf16
from ..metrics.references import make_reference
from ..metrics.blend import endpoint_probs
from ..metrics.soft import SoftLossConfig, soft_rank_loss
from ..metrics.threshold import threshold_curves
from ..models.adapter import ModelAdapter
from ..progress import Progress, ensure_progress


@dataclass
class RefineStep:
    """One refinement step. ``loss`` and the soft AUCs were measured on the map before this step's
    update (they produced its gradient); ``map`` (H, W) is the map after the update."""

    step: int  # 1..total
    total: int
    loss: float
    deletion_auc: float  # soft AUCs of this step's loss evaluation
    insertion_auc: float
    map: torch.Tensor
    tau: float = 0.0  # Sinkhorn temperature, or the threshold relaxation's sigmoid temperature
    grid: int = 0  # the soft loss's grid; 0 for the pixel-level threshold relaxation


# Chosen by benchmarks/refine_cost.py (cost against a forward pass, and both curves on the samples).
REFINE_PERCENTILE_SAMPLES = 4  # sinkhorn relaxation
REFINE_AMP = "off"  # bf16 was slower here and refined less (benchmarks/refine_cost.py)
RELAXATIONS = ("threshold", "sinkhorn")
# The aha protocol's reference: removed pixels become the dataset-mean colour.
REFINE_REFERENCES = ("mean",)


@dataclass
class RefineSettings:
    """How the map is optimised. The defaults were chosen on the hard 'aha' metric, on training
    images, not the held-out ones; docs/refinement.md has the ablations."""

    relaxation: str = "threshold"  # threshold (pixel-level) | sinkhorn (the training loss, coarse)
    # threshold: curve points drawn per step (each is one deletion and one insertion image) and
    # the sigmoid's temperature, in the units of the ranked map (whose std is score_scale)
    points_per_step: int = 2
    temperature: float = 0.025
    # sinkhorn only:
    residual_grid: int | None = 28  # residual's side (None: optimise the full-resolution map)
    grid: int | None = None  # soft-loss grid; None: drawn per step from the loss config's range
    tau: float | None = None  # None: the loss config's tau_end (0.3)
    noise: bool = True  # Gumbel noise in the soft ranking, as in training
    score_scale: float = 0.25  # std of the standardised map that is ranked
    # bf16 autocast of the target: "auto" uses it on GPUs and on CPUs with native bf16.
    amp: str = REFINE_AMP

    def __post_init__(self) -> None:
        if self.relaxation not in RELAXATIONS:
            raise ConfigError(f"refinement relaxation must be one of {', '.join(RELAXATIONS)}, "
                              f"not {self.relaxation!r}")
        if self.temperature <= 0 or self.points_per_step < 1:
            raise ConfigError("refinement needs temperature > 0 and points_per_step >= 1")


def default_loss_config() -> SoftLossConfig:
    """The paper's loss, with each step's curves estimated from a few sampled percentiles, and
    the default protocol's reference (the paper mixes black, mean and blur)."""
    return SoftLossConfig(percentile_samples=REFINE_PERCENTILE_SAMPLES, references=REFINE_REFERENCES)


class _Param:
    """The map as a function of the optimised tensor (residual or full map) and back to its scale."""

    def __init__(self, initial: torch.Tensor, settings: RefineSettings) -> None:
        m = initial.detach().float()
        self.mean = m.mean()
        std = m.std() if m.numel() > 1 else torch.tensor(0.0)
        self.std = std if float(std) > 1e-12 else torch.tensor(1.0, device=m.device)
        self.scale = settings.score_scale
        self.base = (m - self.mean) / self.std * self.scale
        self.size = tuple(m.shape)
        self.residual = settings.relaxation == "sinkhorn" and settings.residual_grid is not None
        if self.residual:
            r = max(1, min(int(settings.residual_grid), *self.size))  # type: ignore[arg-type]
            self.param = torch.zeros(1, 1, r, r, device=m.device, requires_grad=True)
        else:
            self.param = self.base.clone().requires_grad_(True)

    def working(self) -> torch.Tensor:
        if not self.residual:
            return self.param
        up = F.interpolate(self.param, size=self.size, mode="bilinear", align_corners=False)[0, 0]
        return self.base + up

    def to_original(self, z: torch.Tensor) -> torch.Tensor:
        return (z.detach() / self.scale * self.std + self.mean).float()


def _check_inputs(model: ModelAdapter, x: torch.Tensor, initial_map: torch.Tensor, steps: int) -> None:
    if not model.supports_grad:
        raise ConfigError(f"refinement needs gradients, which {model.name} ({model.kind}) cannot give. "
                          f"Load the torch model, or use the explainer's map unrefined.")
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"refine takes one image (1, C, H, W), got {tuple(x.shape)}")
    if tuple(initial_map.shape) != tuple(x.shape[-2:]):
        raise ValueError(f"initial map {tuple(initial_map.shape)} must be (H, W) = {tuple(x.shape[-2:])}")
    if steps < 0:
        raise ConfigError("refinement steps must be >= 0")
    if not torch.isfinite(initial_map).all():
        raise NonFiniteError("refinement: the initial map contains NaN or inf; nothing to refine.")


def _non_finite(what: str, last_map: torch.Tensor, step: int) -> NonFiniteError:
    err = NonFiniteError(f"refinement stopped at step {step}: the {what} became NaN or inf "
                         f"(the map from step {step - 1} is kept). Try fewer steps or a smaller step size.")
    err.last_map = last_map  # type: ignore[attr-defined]
    return err


def refine(model: ModelAdapter, x: torch.Tensor, target: int, initial_map: torch.Tensor, *,
           steps: int = 10, lr: float = 0.05, config: SoftLossConfig | None = None, seed: int = 0,
           progress: Progress | None = None, settings: RefineSettings | None = None,
           batch_limit: int | None = None) -> Iterator[RefineStep]:
    """Yield one ``RefineStep`` per Adam step on the image's soft deletion/insertion loss.

    ``x`` (1, C, H, W) normalised on the model's device; ``initial_map`` (H, W). Raises
    ``Cancelled`` (via ``progress``) between steps and ``NonFiniteError`` (with ``.last_map``)
    if the loss or the map stops being finite. Deterministic for a given ``seed``.
    """
    _check_inputs(model, x, initial_map, steps)
    cfg = config or default_loss_config()
    st = settings or RefineSettings()
    progress = ensure_progress(progress)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    p = _Param(initial_map.to(x.device), st)
    opt = torch.optim.Adam([p.param], lr=lr)
    targets = torch.tensor([int(target)], device=x.device)
    threshold = st.relaxation == "threshold"
    tau = st.temperature if threshold else (cfg.tau_end if st.tau is None else st.tau)
    bf16 = use_bf16(st.amp, x.device, cpu_auto=True)
    target_model = TargetForLoss(model, autocast_context(x.device, bf16)) if bf16 else model
    refs = {k: make_reference(k, x, model.preprocessing, cfg.blur_size, cfg.blur_sigma).detach()
            for k in cfg.references}
    # The curves' ends (the image and each reference) do not change between steps.
    ends = ({k: endpoint_probs(target_model, x, r, targets, batch_limit) for k, r in refs.items()}  # type: ignore[arg-type]
            if cfg.percentile_samples or threshold else {})
    last = p.to_original(p.working())
    for i in range(1, steps + 1):
        progress.step(i - 1, steps, f"refining: step {i} of {steps}")
        kind = cfg.sample_reference(gen)
        opt.zero_grad(set_to_none=True)
        if threshold:
            grid = 0
            curves = threshold_curves(
                target_model, x, p.working()[None], targets, refs[kind], samples=st.points_per_step,  # type: ignore[arg-type]
                temperature=st.temperature, generator=gen, batch_limit=batch_limit, ends=ends[kind])
            deletion, insertion = curves.deletion_auc[0], curves.insertion_auc[0]
            loss = deletion - insertion
        else:
            grid = st.grid if st.grid is not None else cfg.sample_grid(gen)
            loss, curves = soft_rank_loss(target_model, x, p.working()[None], targets, cfg, tau=tau, grid=grid,  # type: ignore[arg-type]
                                          reference=refs[kind], noise=st.noise, generator=gen,
                                          batch_limit=batch_limit, ends=ends.get(kind))
            deletion, insertion = curves.deletion_auc.mean(), curves.insertion_auc.mean()
        if not torch.isfinite(loss):
            raise _non_finite("loss", last, i)
        loss.backward()
        if p.param.grad is None or not torch.isfinite(p.param.grad).all():
            raise _non_finite("gradient", last, i)
        opt.step()
        new = p.to_original(p.working())
        if not torch.isfinite(new).all():
            raise _non_finite("map", last, i)
        last = new
        yield RefineStep(i, steps, float(loss.detach()), float(deletion.detach()), float(insertion.detach()),
                         new, float(tau), int(grid))
    try:  # completion report; a cancel arriving after the last step changes nothing
        progress.step(steps, steps, "refined")
    except Cancelled:
        pass


def refine_map(model: ModelAdapter, x: torch.Tensor, target: int, initial_map: torch.Tensor,
               **kwargs: object) -> torch.Tensor:
    """The final map of ``refine`` (the initial map when steps == 0)."""
    out = initial_map.detach().float()
    for step in refine(model, x, target, initial_map, **kwargs):  # type: ignore[arg-type]
        out = step.map
    return out


__all__ = ["RELAXATIONS", "RefineSettings", "RefineStep", "default_loss_config", "refine", "refine_map"]
