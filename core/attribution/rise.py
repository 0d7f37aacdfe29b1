"""RISE (Petsiuk et al. 2018): saliency = E[P(target | x * M) M] / p over random smooth masks.

Masks as in the paper: a binary s x s grid (each cell kept with probability p) is upsampled
bilinearly to (s+1) * cell pixels and cropped at a random shift in [0, cell). Masked pixels go
to zero in normalised space (the dataset-mean colour), as the reference code does. Only forward
passes without gradients, so it runs on ONNX models too.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from ..progress import Progress
from .model_info import fixed_batch_size
from .registry import OptionSpec, register_method


class RiseMasks:
    """The n random masks of one seed; drawn up front (small), upsampled chunk by chunk so a
    2000-mask set at 224x224 never sits in memory and the result does not depend on the chunking."""

    def __init__(self, n: int, size: tuple[int, int], cell_size: int = 7, p: float = 0.5, seed: int = 0) -> None:
        if n < 1 or cell_size < 1 or not 0.0 < p <= 1.0:
            raise ConfigError(f"RISE needs n_masks >= 1, cell_size >= 1 and 0 < p <= 1 "
                              f"(got {n}, {cell_size}, {p})")
        g = torch.Generator().manual_seed(int(seed))
        self.n, self.size, self.s = int(n), (int(size[0]), int(size[1])), int(cell_size)
        self.cell = (math.ceil(self.size[0] / self.s), math.ceil(self.size[1] / self.s))
        self.grid = (torch.rand(self.n, 1, self.s, self.s, generator=g) < p).float()
        self.dy = torch.randint(0, self.cell[0], (self.n,), generator=g)
        self.dx = torch.randint(0, self.cell[1], (self.n,), generator=g)

    def chunk(self, start: int, stop: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Masks start..stop-1 as a (k,1,H,W) float tensor on ``device``."""
        h, w = self.size
        up = ((self.s + 1) * self.cell[0], (self.s + 1) * self.cell[1])
        big = F.interpolate(self.grid[start:stop].to(device), size=up, mode="bilinear", align_corners=False)
        out = [big[i, :, dy:dy + h, dx:dx + w]
               for i, (dy, dx) in enumerate(zip(self.dy[start:stop].tolist(), self.dx[start:stop].tolist()))]
        return torch.stack(out)


def _target_probs(model: ModelAdapter, batch: torch.Tensor, target: int, fixed: int | None) -> torch.Tensor:
    """Softmax probability of ``target`` for each image; pads to a fixed-batch graph's size."""
    k = batch.shape[0]
    if fixed is not None and k != fixed:
        batch = torch.cat([batch, batch.new_zeros(fixed - k, *batch.shape[1:])])
    return model.logits(batch).float().softmax(-1)[:k, target]


@register_method("rise", "RISE", needs_grad=False, p=0.5, seed=0,
                 options=(OptionSpec("n_masks", "int", 2000, 10, 20000, label="Masks",
                                     help="Random masks averaged: more gives a smoother, more stable map "
                                          "and costs one forward pass each."),
                          OptionSpec("cell_size", "int", 7, 2, 64, label="Grid cells",
                                     help="Cells per side of each random mask grid: more cells, finer detail.")),
                 description="Randomised input sampling: class probability under random masks, averaged.")
def rise(model: ModelAdapter, inputs: torch.Tensor, targets: torch.Tensor, *, batch_limit: int,
         progress: Progress, n_masks: int = 2000, cell_size: int = 7, p: float = 0.5,
         seed: int = 0) -> torch.Tensor:
    b, _, h, w = inputs.shape
    masks = RiseMasks(n_masks, (h, w), cell_size, p, seed)
    sal = torch.zeros(b, h, w, dtype=torch.float32, device=inputs.device)
    fixed = fixed_batch_size(model)
    step = fixed or max(1, int(batch_limit))
    n_chunks = math.ceil(masks.n / step)
    total, done = b * n_chunks, 0
    with torch.no_grad():
        for start in range(0, masks.n, step):
            m = masks.chunk(start, min(start + step, masks.n), inputs.device).to(inputs.dtype)
            for i in range(b):
                prob = _target_probs(model, inputs[i:i + 1] * m, int(targets[i]), fixed)
                sal[i] += (prob.to(sal.device)[:, None, None] * m[:, 0].float()).sum(0)
                done += 1
                progress.step(done, total, "RISE")
    return sal / (masks.n * p)
