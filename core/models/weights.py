"""Safe reading of state dicts: safetensors or weights-only torch files. Never arbitrary pickles."""
from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import torch

from ..errors import ModelLoadError

STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _first_line(exc: BaseException) -> str:
    """torch's errors carry terminal escape codes and many lines; a message needs one clean line."""
    return _ANSI.sub("", str(exc)).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__


def file_fingerprint(path: str | Path, length: int = 16) -> str:
    """sha256 of the file's bytes, shortened: identifies weights across renames and copies."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def tensor_fingerprint(state: dict[str, torch.Tensor], length: int = 16) -> str:
    """sha256 over sorted names and tensor bytes: identifies weights whatever the file format."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:length]


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict", "module"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelLoadError(
            f"{path}: not a plain state dict (name -> tensor). Save it with "
            f"torch.save(model.state_dict(), path) or as .safetensors."
        )
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):  # saved from DataParallel/DDP
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read weights from .safetensors or a weights-only torch file, refusing executable pickles."""
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: weights file not found. Check the path.")
    if p.stat().st_size == 0:
        raise ModelLoadError(f"{p}: the weights file is empty. Copy it again.")
    if p.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{p}: damaged or truncated safetensors file ({exc}). Copy it again.") from None
    try:
        obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"{p}: refused, the file holds Python objects other than tensors, which could run code "
            f"on load ({_first_line(exc)}). Re-save only the state dict, "
            f"or convert it to .safetensors."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"{p}: cannot read the weights ({_first_line(exc)}). "
            f"Give a .safetensors file or a torch state dict (.pth/.pt)."
        ) from None
    return _unwrap(obj, p)
