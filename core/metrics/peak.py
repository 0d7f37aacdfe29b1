"""Peak penalty: keeps a learned map from collapsing onto isolated pixels (L2R, weight 0.0025)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def local_mean(x: torch.Tensor, window: int = 15) -> torch.Tensor:
    """Mean over a ``window`` x ``window`` neighbourhood of a (B, H, W) map, same size out.

    Reflect padding (replicate where the map is smaller than half the window) so border pixels
    are compared with real neighbours rather than zeros, which would make every border a "peak".
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    if x.dim() != 3:
        raise ValueError(f"map must be (B, H, W), got {tuple(x.shape)}")
    pad = window // 2
    h, w = x.shape[-2:]
    mode = "reflect" if pad < h and pad < w else "replicate"
    padded = F.pad(x[:, None], (pad, pad, pad, pad), mode=mode)
    return F.avg_pool2d(padded, window, stride=1)[:, 0]


def peak_penalty(raw_map: torch.Tensor, window: int = 15) -> torch.Tensor:
    """mean(relu(map - local_mean(map))^2) over batch and pixels: a scalar.

    Zero for a constant map; large for a spike, small for a smooth bump of the same mass.
    Computed in float32 whatever the map's dtype.
    """
    m = raw_map.float()
    return F.relu(m - local_mean(m, window)).pow(2).mean()
