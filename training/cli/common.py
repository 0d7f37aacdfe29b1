"""Options every `l2r` subcommand shares: which model, which explainer, which device."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from l2r_core.errors import ConfigError
from l2r_core.images import LIMIT_FLAG, MAX_PIXELS, format_pixels, parse_pixel_count
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.card import ModelCard, read_card
from l2r_core.models.loading import load_model
from l2r_core.models.preprocessing import INTERPOLATIONS, RESIZE_MODES
from l2r_core.models.timm_arch import parse_model_args


def add_card_args(g: argparse._ActionsContainer, class_names: bool = True) -> None:
    """The model card's settings as flags. They override the card (``--model-card``, else
    ``<weights>.json``), which overrides the model's defaults."""
    g.add_argument("--model-card", metavar="FILE", help="model card JSON (default: <weights>.json if present)")
    g.add_argument("--input-size", metavar="N|HxW", help="the model's input size, e.g. 224 or 32x48")
    g.add_argument("--resize", choices=RESIZE_MODES,
                   help="crop: short side to input/crop-pct, centre crop; squash: stretch to the input; "
                        "pad: letterbox on black, scaled down only if needed")
    g.add_argument("--crop-pct", type=float, metavar="F", help="centre-crop fraction for --resize crop (e.g. 0.875)")
    g.add_argument("--mean", type=float, nargs="+", metavar="M", help="normalisation mean: 1 or 3 values")
    g.add_argument("--std", type=float, nargs="+", metavar="S", help="normalisation std: 1 or 3 values")
    g.add_argument("--interpolation", choices=tuple(INTERPOLATIONS), help="resampling filter (default bicubic)")
    g.add_argument("--channels", type=int, choices=(1, 3), help="input channels, where the model file cannot say")
    g.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="timm architecture argument the weights cannot show, e.g. num_heads=3 (repeatable)")
    if class_names:
        g.add_argument("--class-names", help="text file with one class name per line (or JSON list)")


def card_options(args: argparse.Namespace) -> dict[str, Any]:
    """The card settings given as flags (JSON types), validated; a --model-card file under them."""
    given: dict[str, Any] = {}
    for key in ("input_size", "resize", "crop_pct", "mean", "std", "interpolation", "channels", "class_names"):
        value = getattr(args, key, None)
        if value is not None:
            given[key] = value
    if getattr(args, "model_arg", None):
        given["model_args"] = parse_model_args(args.model_arg)
    ModelCard.from_dict(given, "command line")  # every bad flag named before anything loads
    card_file = getattr(args, "model_card", None)
    if card_file:
        base = read_card(card_file).to_dict()
        base.pop("model", None)
        given = {**base, **given, "model_args": {**base.get("model_args", {}), **given.get("model_args", {})}}
    return given


def add_model_args(p: argparse.ArgumentParser, explainer: bool = True) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default="demo-cnn",
                   help="demo-cnn, demo-vit, timm:<architecture> (with --weights), or a .onnx / TorchScript file")
    g.add_argument("--weights", help="local weights for timm:<architecture> (.safetensors or .pth state dict)")
    add_card_args(g)
    g.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    if explainer:
        g.add_argument("--explainer", help="explainer folder (explainer.json + explainer.safetensors); "
                                           "defaults to the bundled one for demo models")


def pixel_count(text: str) -> int:
    """argparse type for ``--max-pixels``: 300M, 1.5G, 1e9, 12000x12000."""
    try:
        return parse_pixel_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_image_args(p: argparse.ArgumentParser) -> None:
    """Flags of every command that reads user images (the same limit as the desktop app's). The
    command passes ``args.max_pixels`` (None: the default) to every ``load_image``."""
    g = p.add_argument_group("images")
    g.add_argument(LIMIT_FLAG, dest="max_pixels", type=pixel_count, metavar="N",
                   help=f"refuse images whose header claims more pixels than N, e.g. 1G, 2e9, 40000x30000 "
                        f"(default {format_pixels(MAX_PIXELS)}: above single-shot cameras, far below a decompression "
                        f"bomb's claim). Images over 4096 px per side are downscaled while they are decoded.")


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine. Use --device cpu.")
    return name


@dataclass
class Loaded:
    model: ModelAdapter
    explainer: Any | None  # l2r_core.explainer.Explainer


def load_from_args(args: argparse.Namespace, need_explainer: bool = False) -> Loaded:
    model = load_model(args.model, weights=args.weights, device=resolve_device(args.device), **card_options(args))
    explainer = None
    path = getattr(args, "explainer", None)
    if path is None:
        from l2r_core.onnx.explainer import fused_explainer

        explainer = fused_explainer(model)  # a fused ONNX file carries its own explainer
        if explainer is None:
            from l2r_core.models.demo import demo_explainer_dir

            path = demo_explainer_dir(args.model)
    if path is not None:
        from l2r_core.explainer import load_explainer

        explainer = load_explainer(Path(path), model).to(model.device)
    elif explainer is None and need_explainer:
        raise ConfigError(f"{args.model}: the l2r methods need a trained explainer. Pass --explainer DIR, "
                          f"or train one with `l2r train --model {args.model} IMAGES_DIR`.")
    return Loaded(model, explainer)


def method_options(method: str, loaded: Loaded, refine_steps: int | None = None) -> dict[str, Any]:
    """Options a registered method needs from the CLI context."""
    from l2r_core.attribution.registry import get_method

    info = get_method(method)
    opts: dict[str, Any] = {}
    if info.needs_explainer:
        if loaded.explainer is None:
            raise ConfigError(f"method '{method}' needs a trained explainer: pass --explainer DIR.")
        opts["explainer"] = loaded.explainer
    if method == "l2r-refine" and refine_steps is not None:
        opts["steps"] = refine_steps
    return opts
