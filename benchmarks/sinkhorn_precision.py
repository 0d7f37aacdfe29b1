"""Float32 Gumbel-Sinkhorn against float64, by score spread: why scores are soft-capped.

Usage: python benchmarks/sinkhorn_precision.py [--n 784] [--tau 0.3] [--normalize none|softcap]
Prints, per score std: the worst row-sum error after 30 iterations (convergence), the worst gap
between the mean deletion mask and p, and the float32 gradient's relative error against float64.
"""
from __future__ import annotations

import argparse

import torch

from l2r_core.metrics.soft import soft_deletion_masks
from l2r_core.ranking import gumbel_sinkhorn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=784)
    ap.add_argument("--tau", type=float, default=0.3)
    ap.add_argument("--normalize", default="none")
    args = ap.parse_args()
    pct = torch.linspace(0, 1, 16)
    w = torch.randn(4, 16, args.n, generator=torch.Generator().manual_seed(2))
    for std in (1, 5, 10, 20, 30, 100):
        base = torch.randn(4, args.n, generator=torch.Generator().manual_seed(0)) * std
        grads, plan = [], None
        for dtype in (torch.float32, torch.float64):
            s = base.to(dtype).detach().requires_grad_()
            p = gumbel_sinkhorn(s, args.tau, 30, True, torch.Generator().manual_seed(1), args.normalize)
            masks = soft_deletion_masks(p, pct.to(dtype))
            (masks * w.to(dtype)).sum().backward()
            grads.append(s.grad.double())
            if plan is None:
                plan, deleted = p.detach(), masks.detach().mean(-1)
        rel = float((grads[0] - grads[1]).norm() / grads[1].norm())
        print(f"std {std:4}: row-sum error {float((plan.sum(-1) - 1).abs().max()):.2e}  "
              f"deleted-fraction error {float((deleted - pct).abs().max()):.3f}  "
              f"float32 gradient error {100 * rel:.2f}%")


if __name__ == "__main__":
    main()
