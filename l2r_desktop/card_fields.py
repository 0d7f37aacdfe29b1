"""Model-card settings as the text fields the dialogs show, and back (no Qt).

A field left empty means "the model's default"; the values go through ``ModelCard.from_dict`` so a
bad field gets the same message, naming the key and the fix, as a bad card file or flag.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from l2r_core.models.card import ModelCard

# The card keys the dialogs edit as text, in the order they are shown.
TEXT_KEYS = ("input_size", "resize", "crop_pct", "mean", "std", "interpolation", "class_names")


def parse_numbers(text: str) -> list[float] | str:
    """``"0.5"`` or ``"0.485, 0.456, 0.406"`` -> floats; anything unreadable comes back as the text,
    so ``ModelCard.from_dict`` names it in its message."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        return text.strip()


def card_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that are set, as model-card values (JSON types): ``input_size``, ``resize``,
    ``interpolation``, ``class_names`` as text, ``mean``/``std`` as text of numbers, ``crop_pct``
    as a fraction (0 or None: not set)."""
    out: dict[str, Any] = {}
    for key in TEXT_KEYS:
        value = fields.get(key)
        if value is None:
            continue
        if key == "crop_pct":
            if float(value) > 0:
                out[key] = float(value)
            continue
        text = str(value).strip()
        if not text:
            continue
        out[key] = parse_numbers(text) if key in ("mean", "std") else text
    return out


def card_from_fields(fields: Mapping[str, Any], source: str) -> ModelCard:
    """A validated card of the fields that are set; raises ``ConfigError`` naming ``source``."""
    return ModelCard.from_dict(card_values(fields), source)


def _num(v: float) -> str:
    """Shortest text that reads back as the same float (0.286, not 0.28600000000000003)."""
    return repr(float(v))


def _numbers_text(values: tuple[float, ...] | None) -> str:
    return ", ".join(_num(v) for v in values) if values else ""


def fields_of(card: ModelCard) -> dict[str, Any]:
    """A card's settings as field values ("" / None where the card says nothing). Class names a
    card lists inline have no file to show: they stay in the card."""
    size = card.input_size
    return {
        "input_size": "" if size is None else (str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"),
        "resize": card.resize or "",
        "crop_pct": card.crop_pct,
        "mean": _numbers_text(card.mean),
        "std": _numbers_text(card.std),
        "interpolation": card.interpolation or "",
    }


def train_flags(fields: Mapping[str, Any]) -> list[str]:
    """``l2r train`` flags of the fields that are set (``--input-size 32 --mean 0.286 ...``)."""
    values = card_values(fields)
    args: list[str] = []
    for key, flag in (("input_size", "--input-size"), ("resize", "--resize"), ("crop_pct", "--crop-pct"),
                      ("mean", "--mean"), ("std", "--std"), ("interpolation", "--interpolation")):
        value = values.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            args += [flag, *(_num(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args
