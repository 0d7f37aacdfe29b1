"""Versions of the packages that change results, for manifests and reports."""
from __future__ import annotations

import platform
from importlib import metadata


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("l2r-inspector", "torch", "torchvision", "timm", "numpy", "onnxruntime", "pillow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out
