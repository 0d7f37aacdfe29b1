"""Options every `l2r` subcommand shares: which model, which explainer, which device."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from l2r_core.errors import ConfigError
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.loading import load_model


def add_model_args(p: argparse.ArgumentParser, explainer: bool = True) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default="demo-cnn",
                   help="demo-cnn, demo-vit, timm:<architecture> (with --weights), or a .onnx / TorchScript file")
    g.add_argument("--weights", help="local weights for timm:<architecture> (.safetensors or .pth state dict)")
    g.add_argument("--class-names", help="text file with one class name per line (or JSON list)")
    g.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    if explainer:
        g.add_argument("--explainer", help="explainer folder (explainer.json + explainer.safetensors); "
                                           "defaults to the bundled one for demo models")


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
    model = load_model(args.model, weights=args.weights, class_names=args.class_names,
                       device=resolve_device(args.device))
    explainer = None
    path = getattr(args, "explainer", None)
    if path is None:
        from l2r_core.models.onnx_explainer import fused_explainer

        explainer = fused_explainer(model)  # a fused ONNX file carries its own explainer
        if explainer is None:
            from l2r_core.models.demo import demo_explainer_dir

            path = demo_explainer_dir(args.model)
    if path is not None:
        from l2r_core.models.onnx_explainer import load_explainer_any

        explainer = load_explainer_any(Path(path), model).to(model.device)
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
