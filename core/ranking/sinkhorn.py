"""Gumbel-Sinkhorn soft permutation of N scores (full N x N form, as in the L2R paper).

Rows of the result are rank positions (row 0 = most important = highest score), columns are cells.

Score scale. Expand the log-affinity:

    -(s_j - a_i)^2 = 2 a_i s_j  - s_j^2  - a_i^2
                     (coupling)  (column) (row)

Sinkhorn rescales rows and columns, so the row and column terms do not change its fixed point:
only ``2 a_i s_j / tau`` matters. Hence a constant shift of the scores changes nothing and the
scores' *scale* acts as an inverse temperature. Raw scores outside [0, 1] therefore do not
degenerate; the explainer (which outputs raw scores, no sigmoid) learns how sharp its own ranking
is, and its score scale also sets how much the unit-scale Gumbel noise matters. Min-max scaling to
[0, 1] would pin that scale: at the paper's tau (1.0 -> 0.3) and N = 784 the plan would then be
almost uniform (its blur is about sqrt(tau / 2) in score units) and the noise would dominate.
``normalize='minmax'`` is kept as an option for maps whose scale is arbitrary (Grad-CAM, IG);
use it with a much smaller tau (about 1 / N^2 for a near-hard ranking).

Why the default is ``normalize='softcap'`` and not the paper's raw scores ('none'). Training
grows the score scale without bound (a sharper plan always looks better to the loss), and past
a per-map std of about 20 at tau 0.3 the float32 Sinkhorn breaks down: 30 iterations no longer
converge (the soft masks delete more than p early on, so both curves look better than they are)
and the backward pass loses all accuracy (N = 784, tau 0.3: gradient error against float64 0.19%
at std 5, 49% at std 20, 160% at std 30; benchmarks/sinkhorn_precision.py). A demo-vit run reached a score std of about 2,000 by
step 100 and stopped at step 181 with infinite gradients. 'softcap' divides each row by
``sqrt(1 + (std / cap)^2)``: maps with std well below ``cap`` pass unchanged, larger ones are
brought to about ``cap``, and the gradient along the scale direction fades, so the scale stops
growing. ``cap = 5`` keeps the plan roughly 7% of the ranks wide at tau 0.3 (an estimate) and the
gradient within 0.3% of float64 for any raw spread.
Watch ``SoftCurves.deleted_fraction`` (should equal p) when changing ``cap`` or ``n_iters``.
"""
from __future__ import annotations

import math

import torch
from torch.profiler import record_function

NORMALIZE_MODES = ("softcap", "none", "minmax")
DEFAULT_SCORE_CAP = 5.0


def normalize_scores(scores: torch.Tensor, mode: str = "softcap", eps: float = 1e-8,
                     cap: float = DEFAULT_SCORE_CAP) -> torch.Tensor:
    """Per-row score normalisation before ranking (see the module note).

    'softcap': ``s / sqrt(1 + (std(s) / cap)^2)``, a row's spread smoothly bounded by ``cap``;
    'none': raw scores (the paper); 'minmax': scaled to [0, 1].
    """
    if mode == "none":
        return scores
    if mode == "softcap":
        if cap <= 0:
            raise ValueError("the score cap must be positive")
        if scores.shape[-1] < 2:
            return scores
        spread = scores.std(dim=-1, keepdim=True)
        return scores * torch.rsqrt(1.0 + (spread / cap) ** 2)
    if mode == "minmax":
        lo = scores.amin(dim=-1, keepdim=True)
        hi = scores.amax(dim=-1, keepdim=True)
        return (scores - lo) / (hi - lo).clamp_min(eps)
    raise ValueError(f"unknown normalize mode '{mode}': choose one of {NORMALIZE_MODES}")


def sample_gumbel(shape: tuple[int, ...], like: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel noise shaped ``shape`` on ``like``'s device and dtype.

    Drawn on the generator's own device (a CPU generator cannot fill a CUDA tensor), then moved.
    """
    device = generator.device if generator is not None else like.device
    u = torch.rand(shape, generator=generator, device=device, dtype=torch.float32)
    tiny = torch.finfo(torch.float32).tiny
    g = -torch.log(-torch.log(u.clamp(tiny, 1.0 - 1e-7)))
    return g.to(device=like.device, dtype=like.dtype)


def _logsumexp_into(buf: torch.Tensor, log_k: torch.Tensor, pot: torch.Tensor, dim: int) -> torch.Tensor:
    """``logsumexp(log_k + pot, dim)`` computed in ``buf``, with no temporaries of log_k's size:
    the same arithmetic as torch.logsumexp, 3-7x faster here on the CPU at N = 400."""
    torch.add(log_k, pot, out=buf)
    top = buf.amax(dim, keepdim=True)
    buf.sub_(top).exp_()
    return buf.sum(dim, keepdim=True).log_().add_(top)


class _LogSinkhorn(torch.autograd.Function):
    """Log-space Sinkhorn in potential form with a hand-written backward.

    Forward keeps only the per-half-step potentials (B*R + B*C numbers each), not the 2 * n_iters
    full (B, R, C) intermediates autograd would store: at B=8, N=784 the tensors saved for
    backward measured 58 MB instead of 1.16 GB (x4 at the paper's B=32). Backward walks the half-steps in reverse, rebuilding each softmax from the kernel and
    the stored potentials (one exp per half-step), so memory stays at a few (B, R, C) tensors.
    """

    @staticmethod
    def forward(ctx, log_k: torch.Tensor, n_iters: int, log_mass: dict[int, float],
                order: tuple[int, int]) -> torch.Tensor:
        b, r, c = log_k.shape
        pots = {-1: log_k.new_zeros(b, r, 1), -2: log_k.new_zeros(b, 1, c)}
        history: list[torch.Tensor] = []
        buf = torch.empty_like(log_k)  # one work tensor for all half-steps
        for _ in range(n_iters):
            for d in order:  # potential of dim d normalises the sums over dim d
                pots[d] = log_mass[d] - _logsumexp_into(buf, log_k, pots[-3 - d], d)
                history.append(pots[d])
        ctx.order, ctx.log_mass = order, log_mass
        ctx.save_for_backward(log_k, *history)
        return log_k + pots[-1] + pots[-2]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        with record_function("l2r.ranking_backward"):
            return _LogSinkhorn._backward(ctx, grad)

    @staticmethod
    def _backward(ctx, grad: torch.Tensor):  # type: ignore[no-untyped-def]
        log_k, *history = ctx.saved_tensors
        grad_k = grad.clone()
        w = torch.empty_like(log_k)
        gbar = {-1: grad.sum(-1, keepdim=True), -2: grad.sum(-2, keepdim=True)}
        steps = [ctx.order[i % 2] for i in range(len(history))]
        for k in range(len(history) - 1, -1, -1):
            d, o = steps[k], -3 - steps[k]
            other = history[k - 1] if k > 0 else torch.zeros_like(gbar[o])
            # softmax along d that produced this potential, rebuilt from the potentials
            torch.add(log_k, other, out=w)
            w.add_(history[k] - ctx.log_mass[d]).exp_()
            w.mul_(gbar[d])
            grad_k.sub_(w)
            gbar[o] = gbar[o] - w.sum(o, keepdim=True)  # the input potential's gradient
            gbar[d] = torch.zeros_like(gbar[d])  # earlier potentials of dim d: only via steps
        return grad_k, None, None, None


def log_sinkhorn(log_k: torch.Tensor, n_iters: int, last_dim_mass: float = 1.0,
                 first_dim_mass: float = 1.0, exact: str = "dim-2") -> torch.Tensor:
    """Alternating log-space normalisation of a (B, R, C) log-kernel; returns the log plan.

    ``last_dim_mass``: target sum over dim -1 (each of the R rows); ``first_dim_mass``: target sum
    over dim -2 (each of the C columns). ``exact`` names the sum normalised LAST, which therefore
    holds exactly; the other converges with the iterations. One iteration = one of each.
    Differentiable with O(B*R*C) memory whatever ``n_iters`` (see ``_LogSinkhorn``).
    """
    if exact not in ("dim-1", "dim-2"):
        raise ValueError("exact must be 'dim-1' or 'dim-2'")
    if log_k.dim() != 3:
        raise ValueError(f"log_k must be (B, R, C), got {tuple(log_k.shape)}")
    order = (-1, -2) if exact == "dim-2" else (-2, -1)
    log_mass = {-1: math.log(last_dim_mass), -2: math.log(first_dim_mass)}
    return _LogSinkhorn.apply(log_k, int(n_iters), log_mass, order)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    # float32 internally (bf16/fp16 log-sum-exp over 784 terms is far too coarse); float64 kept
    # so gradcheck can run in double precision.
    return torch.float64 if dtype == torch.float64 else torch.float32


def ranking_scores(scores: torch.Tensor, tau: float, normalize: str, cap: float) -> torch.Tensor:
    """Checked (B, N) scores in the working dtype, normalised: the shared start of both rankings."""
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, N), got {tuple(scores.shape)}")
    if tau <= 0:
        raise ValueError("tau must be positive")
    return normalize_scores(scores.to(_work_dtype(scores.dtype)), normalize, cap=cap)


def gumbel_sinkhorn(scores: torch.Tensor, tau: float = 1.0, n_iters: int = 30, noise: bool = True,
                    generator: torch.Generator | None = None,
                    normalize: str = "softcap", cap: float = DEFAULT_SCORE_CAP) -> torch.Tensor:
    """Soft permutation P (B, N, N) of ``scores`` (B, N): P[b, i, j] = share of cell j at rank i.

    Scores are first normalised by ``normalize`` (``cap``: the softcap's bound, see the module
    note). Anchors a_i = linspace(1, 0, N); log-affinity -(s_j - a_i)^2; Gumbel noise added (if
    ``noise``), divided by ``tau``, then ``n_iters`` row+column log-space normalisations.
    Columns (cells) sum to exactly 1; rows (ranks) sum to 1 up to convergence.
    Computed in float32 (float64 stays float64); the result has the input's dtype.
    """
    s = ranking_scores(scores, tau, normalize, cap)
    b, n = s.shape
    anchors = torch.linspace(1.0, 0.0, n, device=s.device, dtype=s.dtype)
    log_k = -(s[:, None, :] - anchors[None, :, None]) ** 2  # (B, ranks, cells)
    if noise:
        log_k = log_k + sample_gumbel((b, n, n), log_k, generator)
    log_p = log_sinkhorn(log_k / tau, n_iters, exact="dim-2")
    return log_p.exp().to(scores.dtype)


def hard_permutation(scores: torch.Tensor) -> torch.Tensor:
    """The hard limit of ``gumbel_sinkhorn``: one-hot (B, N, N) of the descending argsort."""
    order = scores.argsort(dim=-1, descending=True)  # order[b, i] = cell at rank i
    return torch.nn.functional.one_hot(order, scores.shape[-1]).to(scores.dtype)
