"""Resumable training checkpoints, written atomically and loadable without unpickling code.

Layout of ``OUT/checkpoints/step_00001234/``: explainer.safetensors + explainer.json (the decoder,
through ``save_explainer``), state.pt (optimizer, scheduler, step, RNG states: plain tensors,
dicts, lists and numbers only, read back with ``torch.load(weights_only=True)``) and config.json
(the resolved TrainConfig). The folder is assembled under a temporary name and renamed into place,
then ``OUT/checkpoints/latest`` (a one-line text file) is replaced: a crash at any moment leaves
the previous checkpoint intact and pointed to.
"""
from __future__ import annotations

import os
import pickle
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2r_core.atomic import TEMP_MARK, atomic_write_bytes, temp_path_for
from l2r_core.errors import ConfigError
from l2r_core.explainer import Explainer, load_explainer, save_explainer
from l2r_core.models.adapter import ModelAdapter

from .config import TrainConfig, read_config_file

FORMAT = "l2r-train-checkpoint"
VERSION = 1
STATE_NAME = "state.pt"
CONFIG_NAME = "config.json"
LATEST = "latest"


@dataclass
class Resumed:
    folder: Path
    config: TrainConfig
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])


def rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and python RNG states as tensors and numbers (weights_only safe)."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": str(np_name), "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints_dir(out: str | Path) -> Path:
    return Path(out) / "checkpoints"


def save_checkpoint(out: str | Path, explainer: Explainer, optimizer: torch.optim.Optimizer,
                    scheduler: Any, step: int, total: int, config: TrainConfig, keep: int = 2) -> Path:
    """Write the checkpoint for ``step`` (steps completed) and point ``latest`` at it."""
    root = checkpoints_dir(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    if final.is_dir():  # the same state was saved already (e.g. interrupted right after saving)
        _point_latest(root, final.name)
        return final
    tmp = temp_path_for(final)
    tmp.mkdir()
    try:
        save_explainer(explainer, tmp, extra={"training_step": step, "training_total": total})
        state = {"format": FORMAT, "version": VERSION, "step": int(step), "total": int(total),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()}
        torch.save(state, tmp / STATE_NAME)
        config.save(tmp / CONFIG_NAME)
        _fsync_dir(tmp)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_latest(root, final.name)
    _prune(root, keep)
    return final


def remove_stale_temps(out: str | Path) -> None:
    """Delete half-built checkpoint folders and pointer files a killed run left behind.
    Call on the main rank only, before training writes anything."""
    root = checkpoints_dir(out)
    if not root.is_dir():
        return
    for p in root.glob(f".*{TEMP_MARK}"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def _point_latest(root: Path, name: str) -> None:
    atomic_write_bytes(root / LATEST, (name + "\n").encode())


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from itself, a run folder (OUT) or OUT/checkpoints."""
    p = Path(path)
    if (p / STATE_NAME).is_file():
        return p
    for root in (checkpoints_dir(p), p):
        latest = root / LATEST
        if latest.is_file():
            cand = root / latest.read_text(encoding="utf-8").strip()
            if (cand / STATE_NAME).is_file():
                return cand
    raise ConfigError(f"{p}: no training checkpoint found (expected {STATE_NAME} or checkpoints/{LATEST}). "
                      f"Give the --out folder of an earlier `l2r train` run.")


def run_folder(checkpoint: Path) -> Path:
    """OUT for OUT/checkpoints/step_N."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def read_checkpoint(path: str | Path) -> Resumed:
    folder = find_checkpoint(path)
    try:
        state = torch.load(str(folder / STATE_NAME), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ConfigError(f"{folder / STATE_NAME}: damaged checkpoint ({str(exc).splitlines()[0][:160]}). "
                          f"Resume from an older checkpoint folder.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"{folder / STATE_NAME}: not an L2R training checkpoint.")
    config = TrainConfig.from_dict(read_config_file(folder / CONFIG_NAME), str(folder / CONFIG_NAME))
    return Resumed(folder, config, state)


def restore(resumed: Resumed, model: ModelAdapter, optimizer_factory: Any, scheduler_factory: Any
            ) -> tuple[Explainer, torch.optim.Optimizer, Any]:
    """Rebuild explainer, optimizer and scheduler from a checkpoint and restore their state."""
    explainer = load_explainer(resumed.folder, model)
    optimizer = optimizer_factory(explainer)
    # The scheduler first: building it resets the lr to its step-0 value; the optimizer's saved
    # state (loaded after) carries the lr of the saved step.
    scheduler = scheduler_factory(optimizer)
    optimizer.load_state_dict(resumed.state["optimizer"])
    scheduler.load_state_dict(resumed.state["scheduler"])
    set_rng_state(resumed.state["rng"])
    return explainer, optimizer, scheduler
