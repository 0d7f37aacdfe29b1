"""Distributed data parallel under ``torchrun``: the same command, N processes.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (plus MASTER_ADDR/PORT). Each process trains the
decoder on its own slice of every global batch; DDP averages gradients, so all ranks keep
identical weights. Only rank 0 writes logs, checkpoints and the final explainer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from l2r_core.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes on this machine: they share its cores

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect() -> DistInfo:
    """Ranks from torchrun's environment variables; a plain run is rank 0 of 1."""
    try:
        return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                        int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    except ValueError:
        return DistInfo()


def pick_device(requested: str, info: DistInfo) -> torch.device:
    """auto -> cuda:LOCAL_RANK when CUDA is there, else cpu; explicit 'cuda' also takes LOCAL_RANK."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: CUDA is not available on this machine. Use --device cpu.")
    if requested == "cuda" and info.enabled:
        return torch.device(f"cuda:{info.local_rank}")
    return torch.device(requested)


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group (nccl on CUDA, gloo on CPU); no-op for a single process."""
    if not info.enabled or (dist.is_available() and dist.is_initialized()):
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                            rank=info.rank, world_size=info.world)


def wrap(decoder: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP around the decoder (it broadcasts rank 0's initial weights to all ranks)."""
    if not info.enabled:
        return decoder
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(decoder, device_ids=ids)


def _reduce_flag(flag: bool, info: DistInfo, device: torch.device, op: "dist.ReduceOp") -> bool:
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=op)
    return bool(t.item() > 0.5)


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when it is true on any (stop requests, non-finite losses)."""
    return _reduce_flag(flag, info, device, dist.ReduceOp.MAX if info.enabled else None)  # type: ignore[arg-type]


def mean_value(value: float, info: DistInfo, device: torch.device) -> float:
    """The mean of a number over ranks (the logged loss)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world


def broadcast_int(value: int, info: DistInfo, device: torch.device) -> int:
    """Rank 0's ``value`` on every rank (a budgeted run's step count follows rank 0's clock)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], device=device, dtype=torch.int64)
    dist.broadcast(t, src=0)
    return int(t.item())


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
