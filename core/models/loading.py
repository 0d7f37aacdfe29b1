"""One factory for every model source: demo names, timm:<arch> + weights, TorchScript, ONNX."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, ModelLoadError
from .adapter import ModelAdapter
from .card import ModelCard, card_beside, read_card
from .preprocessing import Preprocessing

# Keyword options of load_model and wrap that describe the model (the model card's keys).
MODEL_OPTIONS = tuple(k for k in ModelCard.keys() if k != "model")


def card_from_options(options: dict[str, Any], source: str = "options") -> ModelCard:
    """Keyword options -> a validated card; an unknown name lists the valid ones."""
    unknown = [k for k in options if k not in MODEL_OPTIONS]
    if unknown:
        raise ConfigError(f"{source}: unknown option '{unknown[0]}'. Valid options: {', '.join(MODEL_OPTIONS)}.")
    return ModelCard.from_dict({k: v for k, v in options.items() if v is not None}, source)


def load_model(
    spec: str,
    weights: str | Path | None = None,
    preprocessing: Preprocessing | None = None,
    class_names: Sequence[str] | str | Path | None = None,
    device: str = "cpu",
    *,
    card: ModelCard | str | Path | None = None,
    **options: Any,
) -> ModelAdapter:
    """``spec`` is ``demo-cnn``, ``demo-vit``, ``timm:<arch>`` (with ``weights``), or a
    path to a TorchScript (.pt/.pth/.ts/.torchscript) or ONNX (.onnx) file.

    ``options`` are the model card's keys (input_size, resize, crop_pct, mean, std, interpolation,
    channels, model_args). They override ``card`` (a ModelCard or a card file), which overrides
    the card beside the weights or model file (``<file>.json``), which overrides the model's defaults.
    ``preprocessing`` replaces the preprocessing entirely."""
    if class_names is not None:
        options["class_names"] = [str(n) for n in class_names] if not isinstance(class_names, (str, Path)) \
            else str(class_names)
    settings = card_from_options(options)
    if card is not None:
        settings = settings.over(card if isinstance(card, ModelCard) else read_card(card))
    adapter: ModelAdapter
    if spec in ("demo-cnn", "demo-vit"):
        from .demo import load_demo_cnn, load_demo_vit

        adapter = load_demo_cnn() if spec == "demo-cnn" else load_demo_vit()
        adapter.preprocessing = settings.preprocessing(adapter.preprocessing)
    elif spec.startswith("timm:"):
        if weights is None:
            raise ModelLoadError(f"{spec}: needs a local weights file (--weights FILE.safetensors or .pth); "
                                 f"nothing is downloaded.")
        from .timm_adapter import load_timm

        settings = settings.over(card_beside(weights))
        adapter = load_timm(spec[len("timm:"):], weights, model_args=settings.model_args)
        adapter.preprocessing = settings.preprocessing(adapter.preprocessing)
    else:
        path = Path(spec)
        if not path.exists():
            raise ModelLoadError(
                f"{spec}: no such model file, and not a known model name. Use demo-cnn, demo-vit, "
                f"timm:<architecture> with --weights, or a path to a .onnx or TorchScript file.")
        settings = settings.over(card_beside(path))
        if path.suffix.lower() == ".onnx":
            from ..onnx.explainer import load_onnx_model as load_onnx

            adapter = load_onnx(path, preprocessing, None, settings)
        else:
            from .torchscript_adapter import load_torchscript

            adapter = load_torchscript(path, preprocessing, None, settings)
    if preprocessing is not None:
        adapter.preprocessing = preprocessing
    adapter.set_class_names(settings.class_names, "class names")
    return adapter.to(device)


def card_for(model: ModelAdapter, spec: str | None = None) -> ModelCard:
    """A card stating everything the loaded ``model`` uses: its preprocessing, its class names
    (unless they are the placeholders ``class N``) and its architecture arguments."""
    from .class_names import default_class_names

    pre = model.preprocessing
    names = tuple(model.class_names)
    placeholder = names == tuple(default_class_names(len(names)))
    mean, std = (pre.mean[:1], pre.std[:1]) if pre.grayscale else (pre.mean, pre.std)
    return ModelCard(model=spec or model.name, input_size=pre.input_size, resize=pre.resize, crop_pct=pre.crop_pct,
                     mean=mean, std=std, interpolation=pre.interpolation, channels=pre.channels,
                     class_names=None if placeholder else names,
                     model_args=dict(getattr(model, "model_args", {}) or {}))
