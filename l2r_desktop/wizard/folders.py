"""The folders the wizard reads without torch: an earlier run in the output folder, an output folder
worth keeping (a trained explainer, or the one in use) and a fresh name next to it, and an explainer
folder to fine-tune."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunInfo", "existing_run", "init_reason", "out_in_use", "fresh_folder"]


@dataclass
class RunInfo:
    folder: Path
    step: int  # steps completed at the latest checkpoint
    total: int  # 0 when unknown
    finished: bool  # the explainer was saved and the last checkpoint is the final step
    checkpoint: Path | None = None  # the latest checkpoint folder (explainer.json + safetensors + state)


def existing_run(out: str | Path) -> RunInfo | None:
    """The run in ``out`` (checkpoints/latest names its newest checkpoint), read without torch."""
    folder = Path(out)
    latest = folder / "checkpoints" / "latest"
    if not str(out).strip() or not latest.is_file():
        return None
    name = latest.read_text(encoding="utf-8").strip()
    m = re.fullmatch(r"step_(\d+)", name)
    if m is None or not (folder / "checkpoints" / name).is_dir():
        return None
    step, total = int(m.group(1)), _total_from(folder)
    finished = (folder / "explainer" / "explainer.json").is_file() and total > 0 and step >= total
    return RunInfo(folder, step, total, finished, folder / "checkpoints" / name)


def _total_from(folder: Path) -> int:
    """The run's length from the last line of its metrics log (read from the end: logs grow long)."""
    log = folder / "metrics.jsonl"
    try:
        with open(log, "rb") as f:
            f.seek(max(0, log.stat().st_size - 8192))
            lines = f.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("total"):
            return int(rec["total"])
    return 0


# -- an output folder worth keeping -----------------------------------------------------------
def _inside(path: str, folder: Path) -> bool:
    try:
        p, f = Path(path).resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return False
    return p == f or f in p.parents


def out_in_use(out: str, in_use: tuple[str, ...] = ()) -> str:
    """Why a fresh run in ``out`` would replace something the user has ("" = nothing): the explainer
    loaded in the main window (``in_use``) or any trained explainer lies in it."""
    folder = Path(out.strip())
    if not out.strip() or not folder.is_dir():
        return ""
    if any(path and _inside(path, folder) for path in in_use):
        return "holds the explainer in use in the main window"
    if (folder / "explainer.json").is_file() or (folder / "explainer" / "explainer.json").is_file():
        return "holds a trained explainer"
    return ""


def fresh_folder(out: str | Path) -> Path:
    """A folder name next to ``out`` that does not exist yet: NAME-2, NAME-3, ... (NAME-2 gives NAME-3)."""
    base = Path(str(out).strip())
    m = re.fullmatch(r"(.+)-(\d{1,3})", base.name)
    stem, n = (m.group(1), int(m.group(2))) if m else (base.name, 1)
    while True:
        n += 1
        candidate = base.with_name(f"{stem}-{n}")
        if not candidate.exists():
            return candidate


# -- an explainer to start from ---------------------------------------------------------------
def init_reason(init: str) -> str:
    """What is wrong with ``init`` as ``l2r train --init`` (it must hold explainer.json); "" when it is
    fine or empty (a new explainer)."""
    if not init.strip():
        return ""
    folder = Path(init.strip())
    if (folder / "explainer.json").is_file():
        return ""
    if (folder / "explainer" / "explainer.json").is_file():
        return (f"{folder} is a training run's folder, not an explainer folder: to start from its explainer "
                f"choose {folder / 'explainer'}.")
    fix = ("choose a folder that holds explainer.json (the 'explainer' folder of a finished run, or one of its "
           "checkpoints/step_* folders), or clear the field to train a new explainer.")
    if not folder.is_dir():
        return f"The explainer folder {folder} does not exist: {fix}"
    return f"The folder {folder} holds no explainer.json, so it is not an explainer: {fix}"
