"""Integrated Gradients (Sundararajan et al. 2017), without Captum.

attr = (x - x0) * integral_0^1 d f(x0 + a (x - x0)) / dx da, the integral taken by a Riemann rule
or Gauss-Legendre quadrature. f is the target-class logit (as Captum uses the model output as
given) or, with ``output='probability'``, its softmax probability. The map is the signed
attribution summed over channels, so ``map.sum()`` approximates f(x) - f(x0) (completeness).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from ..metrics.references import REFERENCE_KINDS, make_reference
from ..models.adapter import ModelAdapter
from ..progress import Progress
from .registry import OptionSpec, register_method

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


def integration_points(steps: int, rule: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Points a in [0,1] and weights summing to 1 for ``steps`` evaluations."""
    key = rule.lower().replace("-", "").replace("_", "")
    n = int(steps)
    if n < 1:
        raise ConfigError(f"Integrated Gradients needs steps >= 1, got {steps}")
    k = np.arange(n, dtype=np.float64)
    if key == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(n)
        a, w = (nodes + 1) / 2, w / 2
    elif key == "riemanntrapezoid":
        if n < 2:
            raise ConfigError("the trapezoid rule needs steps >= 2")
        a, w = np.linspace(0.0, 1.0, n), np.full(n, 1.0 / (n - 1))
        w[0] = w[-1] = 0.5 / (n - 1)
    elif key in ("riemannleft", "riemannright", "riemannmiddle"):
        shift = {"riemannleft": 0.0, "riemannright": 1.0, "riemannmiddle": 0.5}[key]
        a, w = (k + shift) / n, np.full(n, 1.0 / n)
    else:
        raise ConfigError(f"unknown integration method '{rule}': choose one of {', '.join(RULES)}")
    return torch.from_numpy(a), torch.from_numpy(w)


def resolve_baseline(baseline: str | float | torch.Tensor, x: torch.Tensor, model: ModelAdapter) -> torch.Tensor:
    """A baseline batch shaped like ``x``: 'mean' (zeros after normalisation), 'black', 'blur',
    a number, or a tensor broadcastable to (B,C,H,W)."""
    if isinstance(baseline, str):
        kind = "mean" if baseline in ("mean", "zero", "zeros") else baseline
        try:
            return make_reference(kind, x, model.preprocessing)
        except ValueError as exc:
            raise ConfigError(f"Integrated Gradients: {exc}") from None
    b = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        return b.expand_as(x).clone()
    except RuntimeError:
        raise ConfigError(f"IG baseline of shape {tuple(b.shape)} does not fit inputs {tuple(x.shape)}") from None


def _score(logits: torch.Tensor, t: torch.Tensor, output: str) -> torch.Tensor:
    if output in ("logit", "logits"):
        return logits.gather(1, t[:, None]).sum()
    if output in ("probability", "prob", "softmax"):
        return logits.float().softmax(-1).gather(1, t[:, None]).sum()
    raise ConfigError(f"Integrated Gradients output '{output}': choose 'logit' or 'probability'")


# The named baselines resolve_baseline accepts (numbers and tensors are for the API), the default first.
BASELINES = tuple(sorted(REFERENCE_KINDS, key=lambda k: k != "mean"))


@register_method("ig", "Integrated Gradients", needs_grad=True, rule="gausslegendre", output="logit",
                 options=(OptionSpec("steps", "int", 32, 1, 512, label="Steps",
                                     help="Points on the path from the baseline to the image: more is "
                                          "more exact and proportionally slower."),
                          OptionSpec("baseline", "choice", "mean", choices=BASELINES, label="Baseline",
                                     help="The image the path starts from: the dataset-mean colour, black, "
                                          "or a blurred copy of the image.")),
                 description="Path integral of gradients from a baseline image; signed, summed over channels.")
def integrated_gradients(model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *, batch_limit: int,
                         progress: Progress, steps: int = 32, baseline: str | float | torch.Tensor = "mean",
                         rule: str = "gausslegendre", output: str = "logit") -> torch.Tensor:
    # The quadrature option is `rule` (Captum's `method`): `attribute()` already takes `method`.
    alphas, weights = integration_points(steps, rule)
    alphas, weights = alphas.to(inputs.device, inputs.dtype), weights.to(inputs.device, inputs.dtype)
    x0 = resolve_baseline(baseline, inputs, model)
    delta = inputs - x0
    avg_grad = torch.zeros_like(inputs)
    n = alphas.numel()
    total = inputs.shape[0] * n
    step = max(1, int(batch_limit))
    # (image, point) pairs are flattened so every forward pass is full, whatever B and steps are.
    for start in range(0, total, step):
        idx = torch.arange(start, min(start + step, total), device=inputs.device)
        b, k = idx // n, idx % n
        pts = (x0[b] + alphas[k, None, None, None] * delta[b]).detach().requires_grad_(True)
        with torch.enable_grad():
            score = _score(model.logits(pts), targets[b], output)
            (grad,) = torch.autograd.grad(score, pts)
        avg_grad.index_add_(0, b, grad.to(inputs.dtype) * weights[k, None, None, None])
        progress.step(int(idx[-1]) + 1, total, "Integrated Gradients")
    return (delta * avg_grad).sum(1)
