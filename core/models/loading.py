"""One factory for every model source: demo names, timm:<arch> + weights, TorchScript, ONNX."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import ModelLoadError
from .adapter import ModelAdapter
from .class_names import read_class_names
from .preprocessing import Preprocessing


def load_model(
    spec: str,
    weights: str | Path | None = None,
    preprocessing: Preprocessing | None = None,
    class_names: Sequence[str] | str | Path | None = None,
    device: str = "cpu",
) -> ModelAdapter:
    """``spec`` is ``demo-cnn``, ``demo-vit``, ``timm:<arch>`` (with ``weights``), or a
    path to a TorchScript (.pt/.pth/.ts/.torchscript) or ONNX (.onnx) file."""
    names = read_class_names(class_names) if isinstance(class_names, (str, Path)) else class_names
    adapter: ModelAdapter
    if spec == "demo-cnn":
        from .demo import load_demo_cnn

        adapter = load_demo_cnn()
    elif spec == "demo-vit":
        from .demo import load_demo_vit

        adapter = load_demo_vit()
    elif spec.startswith("timm:"):
        if weights is None:
            raise ModelLoadError(f"{spec}: needs a local weights file (--weights FILE.safetensors or .pth); "
                                 f"nothing is downloaded.")
        from .timm_adapter import load_timm

        adapter = load_timm(spec[len("timm:"):], weights, preprocessing, names)
    else:
        path = Path(spec)
        if not path.exists():
            raise ModelLoadError(
                f"{spec}: no such model file, and not a known model name. Use demo-cnn, demo-vit, "
                f"timm:<architecture> with --weights, or a path to a .onnx or TorchScript file.")
        if path.suffix.lower() == ".onnx":
            from .onnx_explainer import load_onnx_model as load_onnx

            adapter = load_onnx(path, preprocessing, names)
        else:
            from .torchscript_adapter import load_torchscript

            adapter = load_torchscript(path, preprocessing, names)
    return adapter.to(device)
