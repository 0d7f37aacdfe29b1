"""The model card: what a weights file cannot say about its model (input size, resize mode,
normalisation, class names, architecture arguments), as a small validated JSON file.

Where a setting comes from, highest first: command-line flags or keyword options, then the card
(``<weights>.json``, or ``config.json`` beside the weights in timm's hub layout), then the
model's own defaults (timm's pretrained config, the weights' shapes).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from ..atomic import atomic_write_text
from ..errors import ConfigError
from .class_names import read_class_names
from .preprocessing import INTERPOLATIONS, RESIZE_MODES, Preprocessing

CARD_SUFFIX = ".json"
HUB_CONFIG = "config.json"  # timm/Hugging Face hub layout: one folder per model


def _fail(source: str, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{source}: '{key}' {problem}. {fix}")


def parse_input_size(value: Any, source: str = "model card", key: str = "input_size") -> tuple[int, int]:
    """``32``, ``"32"``, ``"32x48"`` (height x width), ``[32]`` or ``[32, 48]`` -> (height, width)."""
    items: list[Any]
    if isinstance(value, str):
        items = [p for p in re.split(r"[x×,\s]+", value.strip().lower()) if p]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    try:
        if len(items) not in (1, 2) or any(isinstance(v, bool) or float(v) != int(float(v)) for v in items):
            raise ValueError
        size = [int(float(v)) for v in items]
    except (TypeError, ValueError):
        raise _fail(source, key, f"is {value!r}, not a size", "Give N or HxW, e.g. 224 or 32x48.") from None
    if any(s < 8 or s > 4096 for s in size):
        raise _fail(source, key, f"is {value!r}", "Each side must be between 8 and 4096 pixels.")
    return (size[0], size[-1])


def _numbers(value: Any, source: str, key: str, positive: bool) -> tuple[float, ...]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        out = tuple(float(v) for v in items if not isinstance(v, bool))
    except (TypeError, ValueError):
        out = ()
    if len(out) != len(items) or len(out) not in (1, 3) or not all(math.isfinite(v) for v in out):
        raise _fail(source, key, f"is {value!r}", "Give 1 value (all channels) or 3 values (R, G, B), e.g. 0.5 or [0.485, 0.456, 0.406].")
    if positive and min(out) <= 0:
        raise _fail(source, key, f"is {value!r}", "Standard deviations must be above 0.")
    return out


@dataclass(frozen=True)
class ModelCard:
    """Every field is optional: a card states only what differs from the model's defaults."""

    model: str | None = None  # the spec it was written for (informational)
    input_size: tuple[int, int] | None = None  # (height, width)
    resize: str | None = None  # crop | squash | pad
    crop_pct: float | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None
    channels: int | None = None  # 1 or 3, for models whose input channels cannot be read
    class_names: tuple[str, ...] | None = None
    model_args: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def keys() -> tuple[str, ...]:
        return tuple(f.name for f in fields(ModelCard))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model card",
                  base_dir: str | Path | None = None) -> "ModelCard":
        """Validated card; ``source`` names the file (or "command line") in every message, and
        a ``class_names`` file path is read relative to ``base_dir``."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: a model card is a JSON object of settings, not {type(data).__name__}.")
        unknown = [k for k in data if k not in cls.keys()]
        if unknown:
            raise ConfigError(f"{source}: unknown key '{unknown[0]}'. Valid keys: {', '.join(cls.keys())}.")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            if key == "model":
                values[key] = str(value)
            elif key == "input_size":
                values[key] = parse_input_size(value, source)
            elif key == "resize":
                if value not in RESIZE_MODES:
                    raise _fail(source, key, f"is {value!r}", f"Use one of: {', '.join(RESIZE_MODES)}.")
                values[key] = value
            elif key == "crop_pct":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) <= 1:
                    raise _fail(source, key, f"is {value!r}", "Give the fraction of the resized image kept by the centre crop, in (0, 1], e.g. 0.875.")
                values[key] = float(value)
            elif key in ("mean", "std"):
                values[key] = _numbers(value, source, key, positive=key == "std")
            elif key == "interpolation":
                if value not in INTERPOLATIONS:
                    raise _fail(source, key, f"is {value!r}", f"Use one of: {', '.join(INTERPOLATIONS)}.")
                values[key] = value
            elif key == "channels":
                if value not in (1, 3) or isinstance(value, bool):
                    raise _fail(source, key, f"is {value!r}", "Use 1 (greyscale) or 3 (RGB).")
                values[key] = int(value)
            elif key == "class_names":
                values[key] = _class_names(value, source, base_dir)
            elif key == "model_args":
                if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                    raise _fail(source, key, f"is {value!r}", 'Give an object of architecture arguments, e.g. {"num_heads": 3}.')
                values[key] = dict(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The keys that are set, in JSON types."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "model_args" and not value):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def over(self, base: "ModelCard") -> "ModelCard":
        """This card's settings, falling back on ``base`` for those it leaves unset."""
        merged = {f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(base, f.name)
                  for f in fields(self) if f.name != "model_args"}
        return ModelCard(**merged, model_args={**base.model_args, **self.model_args})

    def preprocessing(self, base: Preprocessing) -> Preprocessing:
        """``base`` (the model's defaults) with this card's settings applied."""
        changes: dict[str, Any] = {k: getattr(self, k) for k in ("input_size", "resize", "crop_pct", "mean", "std",
                                                                  "interpolation") if getattr(self, k) is not None}
        if self.channels is not None:
            changes["grayscale"] = self.channels == 1
        return replace(base, **changes) if changes else base


def _class_names(value: Any, source: str, base_dir: str | Path | None) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, str) and value.strip():
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise _fail(source, "class_names", f"names {path}, which does not exist",
                        "Give a list of names or the path of a text file with one name per line.")
        names = read_class_names(path)
        if not names:
            raise _fail(source, "class_names", f"file {path} holds no names", "Write one class name per line.")
        return tuple(names)
    raise _fail(source, "class_names", f"is {value!r}", "Give a list of names or the path of a text file with one name per line.")


def read_card(path: str | Path) -> ModelCard:
    """A model card file, validated; every problem names the file and the key."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: model card not found. Check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: not a valid JSON model card ({exc}). Fix the file or remove it.") from None
    return ModelCard.from_dict(data, str(p), p.parent)


def read_hub_config(path: str | Path) -> ModelCard:
    """timm's hub ``config.json`` (architecture, num_classes, label_names, pretrained_cfg, model_args),
    which also holds other keys: only the ones that describe the model are read."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: invalid JSON ({exc}). Fix or remove the file.") from None
    if not isinstance(data, dict):
        return ModelCard()
    card: dict[str, Any] = {k: data[k] for k in ModelCard.keys() if k in data}
    pretrained = data.get("pretrained_cfg") if isinstance(data.get("pretrained_cfg"), dict) else {}
    if "input_size" in pretrained and "input_size" not in card:
        card["input_size"] = list(pretrained["input_size"])[-2:]
        card.setdefault("channels", int(pretrained["input_size"][0]))
    for key in ("crop_pct", "mean", "std", "interpolation"):
        if key in pretrained and key not in card:
            card[key] = pretrained[key]
    if "label_names" in data and "class_names" not in card:
        card["class_names"] = data["label_names"]
    if "num_classes" in data and "num_classes" not in card.get("model_args", {}):
        card["model_args"] = {**card.get("model_args", {}), "num_classes": data["num_classes"]}
    return ModelCard.from_dict(card, str(p), p.parent)


def card_beside(model_file: str | Path) -> ModelCard:
    """The card that travels with a weights or model file: ``<file>.json``, else a hub ``config.json``."""
    p = Path(model_file)
    own = p.with_suffix(CARD_SUFFIX)
    if own.is_file() and own != p:
        return read_card(own)
    hub = p.parent / HUB_CONFIG
    if hub.is_file() and hub != p:
        return read_hub_config(hub)
    return ModelCard()


def write_card(card: ModelCard, path: str | Path) -> Path:
    """Write ``card`` as JSON, atomically (no half-written card after a crash)."""
    return atomic_write_text(path, json.dumps(card.to_dict(), indent=2) + "\n")
