"""Class names: ImageNet's from timm, or a user's from a sidecar file."""
from __future__ import annotations

import json
from pathlib import Path


def imagenet_class_names() -> list[str]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i).split(",")[0] for i in range(1000)]


def default_class_names(num_classes: int) -> list[str]:
    if num_classes == 1000:
        return imagenet_class_names()
    return [f"class {i}" for i in range(num_classes)]


def read_class_names(path: str | Path) -> list[str]:
    """One name per line (.txt) or a JSON list / {"label_names": [...]}."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("label_names") or data.get("class_names") or []
        return [str(x) for x in data]
    return [line.strip() for line in text.splitlines() if line.strip()]
