"""Explainer files: explainer.safetensors (decoder weights) + explainer.json (readable identity).

The JSON names the target the decoder was trained for (with its weights' fingerprint), the
config, the feature layout, the preprocessing and free-form ``extra`` (e.g. training settings).
Both files are written atomically (temp file in the same folder, then os.replace) and the JSON,
written last, records the decoder fingerprint so a swapped or damaged weights file is caught.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_target, atomic_write_text
from ..errors import ConfigError, ModelLoadError
from ..models.adapter import ModelAdapter
from ..models.weights import tensor_fingerprint
from .config import ExplainerConfig
from .explainer import Explainer, class_weights_for, explainer_fingerprint, load_backbone, probe_features
from .network import L2RDecoder
from .protocol import ExplainerLike

FORMAT = "l2r-explainer"
VERSION = 1
DECODER_VERSION = 2  # 2: 1x1 fusion projections (1 had 3x3); bump on any change of the decoder's layout
WEIGHTS_NAME = "explainer.safetensors"
META_NAME = "explainer.json"


def explainer_metadata(explainer: Explainer, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    sizes = getattr(explainer.decoder, "feature_sizes", None)
    return {
        "format": FORMAT,
        "version": VERSION,
        "decoder_version": DECODER_VERSION,
        "config": explainer.config.to_dict(),
        "target": explainer.model.describe(),
        "backbone": explainer.backbone.describe() if explainer.backbone is not None else None,
        "feature_channels": list(explainer.decoder.feature_channels),
        "feature_sizes": [list(s) for s in sizes] if sizes else None,
        "preprocessing": explainer.model.preprocessing.to_dict(),
        "decoder_fingerprint": explainer_fingerprint(explainer),
        "extra": dict(extra or {}),
    }


def save_explainer(explainer: Explainer, folder: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write folder/explainer.safetensors and folder/explainer.json; returns the JSON path."""
    state = {k: v.detach().cpu().contiguous() for k, v in explainer.decoder.state_dict().items()}
    return write_explainer_files(Path(folder), state, explainer_metadata(explainer, extra))


def write_explainer_files(out: Path, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """The two files of an explainer folder, each written atomically, the description last."""
    from safetensors.torch import save_file

    text = json.dumps(meta, indent=2, default=str)  # fails before any file is touched if extra is odd
    out.mkdir(parents=True, exist_ok=True)
    with atomic_target(out / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    atomic_write_text(out / META_NAME, text)
    return out / META_NAME


def explainer_paths(folder_or_file: str | Path) -> tuple[Path, Path]:
    """(explainer.json, explainer.safetensors) of a folder or of either file; a clear error if one is missing."""
    p = Path(folder_or_file)
    folder = p if p.is_dir() else p.parent
    if not p.is_dir() and not p.exists():
        raise ModelLoadError(f"{p}: explainer not found. Give the folder holding {META_NAME} and {WEIGHTS_NAME}.")
    meta = p if p.suffix == ".json" else folder / META_NAME
    weights = p if p.suffix == ".safetensors" else folder / WEIGHTS_NAME
    for q in (meta, weights):
        if not q.is_file():
            raise ModelLoadError(f"{q}: missing; an explainer needs both {META_NAME} and {WEIGHTS_NAME}. "
                                 f"Save it again or copy the whole folder.")
    return meta, weights


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: damaged explainer description ({exc}). Copy the explainer again.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not an L2R explainer description (no \"format\": \"{FORMAT}\").")
    if int(meta.get("version", 0)) > VERSION:
        raise ModelLoadError(f"{path}: explainer format version {meta.get('version')} is newer than this "
                             f"program reads ({VERSION}). Update L2R Inspector.")
    for key in ("config", "target", "feature_channels"):
        if key not in meta:
            raise ModelLoadError(f"{path}: damaged explainer description (no '{key}'). Copy the explainer again.")
    return meta


def read_matching_weights(path: Path, meta: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights file, refused unless it is the one the description records."""
    state = _read_weights(path)
    if meta.get("decoder_fingerprint") and tensor_fingerprint(state) != meta["decoder_fingerprint"]:
        raise ModelLoadError(f"{path}: the weights do not match {META_NAME} (damaged or swapped). "
                             f"Copy the explainer folder again.")
    return state


def _short(fp: object) -> str:
    return str(fp)[:8]


def check_target(meta: dict[str, Any], model: ModelAdapter, where: Path) -> None:
    """Refuse an explainer trained for other weights, naming both models and the fix."""
    rec = meta["target"]
    if str(rec.get("fingerprint")) == str(model.fingerprint):
        return
    raise ModelLoadError(
        f"explainer {where.parent} was trained for {rec.get('name', '?')} (fingerprint {_short(rec.get('fingerprint'))}) "
        f"but the loaded model is {model.name} (fingerprint {_short(model.fingerprint)}); load the matching "
        f"explainer or fine-tune one with `l2r train`.")


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{path}: damaged or truncated explainer weights ({exc}). Copy the explainer again.") from None


def load_explainer(path: str | Path, model: ModelAdapter, *, backbone: ModelAdapter | None = None) -> ExplainerLike:
    """The one way to load an explainer for ``model``: a folder saved by ``save_explainer`` (or its
    explainer.json), or an exported ``.onnx`` file (explainer alone or fused with its model).
    Refuses an explainer made for other weights."""
    if str(path).lower().endswith(".onnx"):
        from ..onnx.explainer import open_onnx_explainer

        return open_onnx_explainer(path, model)
    return _load_folder(path, model, backbone)


def _load_folder(folder_or_file: str | Path, model: ModelAdapter, backbone: ModelAdapter | None) -> Explainer:
    meta_path, weights_path = explainer_paths(folder_or_file)
    meta = read_metadata(meta_path)
    check_target(meta, model, meta_path)
    try:
        config = ExplainerConfig.from_dict(meta["config"])
    except ConfigError as exc:
        raise ModelLoadError(f"{meta_path}: {exc}") from None
    if config.backbone != "target" and backbone is None:
        backbone = load_backbone(config)
    if backbone is not None:
        backbone.to(model.device)
        rec = (meta.get("backbone") or {}).get("fingerprint")
        if rec is not None and str(rec) != str(backbone.fingerprint):
            raise ModelLoadError(f"explainer {meta_path.parent} was trained on backbone weights {_short(rec)}, "
                                 f"but {backbone.name} has {_short(backbone.fingerprint)}; give the original "
                                 f"backbone weights.")
    channels, sizes = probe_features(model, config, backbone)
    if channels != [int(c) for c in meta["feature_channels"]]:
        raise ModelLoadError(f"{meta_path}: the model's features have channels {channels}, the explainer expects "
                             f"{meta['feature_channels']}. Load the matching explainer.")
    try:
        rows = class_weights_for(model, config)
    except ConfigError as exc:
        raise ModelLoadError(f"{meta_path}: {exc}") from None
    decoder = L2RDecoder(config, channels, meta.get("feature_sizes") or sizes, model.preprocessing.channels, rows)
    state = read_matching_weights(weights_path, meta)
    try:
        decoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{weights_path}: weights do not fit the explainer's architecture "
                             f"(decoder version {meta.get('decoder_version', 1)}, this program builds "
                             f"{DECODER_VERSION}: {str(exc).splitlines()[0][:160]}). Train it again with "
                             f"`l2r train`.") from None
    return Explainer(model, config, decoder.to(model.device), backbone)
