"""timm architecture arguments read off a state dict, and building a model that fits it.

A user's weights often come from a timm architecture built with non-default arguments
(fewer blocks, another width, a small image size, one input channel). Everything the tensor
shapes and key names determine is inferred here; what they cannot tell (e.g. a ViT's
num_heads) the user passes with ``--model-arg KEY=VALUE``.
"""
from __future__ import annotations

import ast
import json
import math
import re
from typing import Any, Collection, Iterable, Mapping

import torch
from torch import nn

from ..errors import ConfigError, ModelLoadError

# Emitted whenever the weights show them: the probe is built with num_classes=10, and the
# image geometry is also used for preprocessing, so these are never compared with the probe.
_ALWAYS = ("num_classes", "in_chans", "patch_size", "img_size")
_FALLBACK_HINT = "pass the architecture's arguments with --model-arg KEY=VALUE (e.g. num_heads=3)"


def parse_model_args(items: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to keyword arguments; VALUE as JSON (or a Python literal) when it parses."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key.isidentifier() or not raw:
            raise ConfigError(
                f"--model-arg {item!r}: expected the form --model-arg KEY=VALUE "
                f"(e.g. depth=6 or layers=[2,2,2,2])."
            )
        out[key] = _parse_value(raw)
    return out


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        # Python spellings users type out of habit: True, None, (2, 2, 2, 2), 'avg'.
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return raw


def check_architecture(arch: str, source: str) -> None:
    """Raise ModelLoadError naming similar architectures when timm does not know ``arch``."""
    import timm

    if not timm.is_model(arch):
        close = [m for m in timm.list_models() if arch.split("_")[0] in m][:5]
        hint = f" Similar names: {', '.join(close)}." if close else ""
        raise ModelLoadError(f"{source}: unknown timm architecture '{arch}'.{hint} Check the name with timm.list_models().")


def _probe(arch: str) -> nn.Module | None:
    """The architecture with its default arguments, for its class, config and default shapes."""
    import timm

    try:
        # On the meta device nothing is allocated or initialised, so even large models are instant.
        with torch.device("meta"):
            return timm.create_model(arch, pretrained=False, num_classes=10)
    except Exception:  # noqa: BLE001 - some init code needs real tensors; retry on the CPU
        pass
    try:
        return timm.create_model(arch, pretrained=False, num_classes=10)
    except Exception:  # noqa: BLE001 - building it for real reports the failure properly
        return None


def _family(model: nn.Module) -> str:
    from timm.models.convnext import ConvNeXt
    from timm.models.resnet import ResNet
    from timm.models.vision_transformer import VisionTransformer

    if isinstance(model, VisionTransformer):
        return "vit"
    if isinstance(model, ResNet):
        return "resnet"
    if isinstance(model, ConvNeXt):
        return "convnext"
    return ""


def _classifier_keys(model: nn.Module) -> list[str]:
    name = getattr(model, "pretrained_cfg", {}).get("classifier")
    names = list(name) if isinstance(name, (list, tuple)) else [name] if name else []
    return [f"{n}.weight" for n in names]


def _indices(state: Mapping[str, torch.Tensor], prefix: str) -> list[int]:
    """Distinct N in keys ``<prefix>N.``, sorted."""
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pat.match(k))}
    return sorted(found)


def read_architecture(model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Constructor arguments of ``model``'s architecture that ``state``'s shapes and keys determine.

    ``model`` (any instance of the architecture) supplies what weights cannot show: its class,
    which key is the classifier and how many prefix tokens it uses. Reading the model's own
    state dict gives the values it was built with, so two readings can be compared.
    """
    args: dict[str, Any] = {}
    keys = _classifier_keys(model)
    if keys:
        w = state.get(keys[0])
        # No classifier weight: a feature extractor saved with num_classes=0.
        args["num_classes"] = int(w.shape[0]) if w is not None and w.ndim >= 1 else 0
    first = getattr(model, "pretrained_cfg", {}).get("first_conv")
    if isinstance(first, str) and first:
        w = state.get(f"{first}.weight")
        if w is not None and w.ndim == 4:
            args["in_chans"] = int(w.shape[1])
    family = _family(model)
    if family == "vit":
        args.update(_read_vit(model, state))
    elif family == "resnet":
        layers = [len(_indices(state, f"layer{i}.")) for i in range(1, 5)]
        if any(layers):
            args["layers"] = layers
    elif family == "convnext":
        stages = _indices(state, "stages.")
        depths = [len(_indices(state, f"stages.{s}.blocks.")) for s in stages]
        dims = [state.get(f"stages.{s}.blocks.0.conv_dw.weight") for s in stages]
        if stages and all(depths):
            args["depths"] = depths
            if all(d is not None for d in dims):
                args["dims"] = [int(d.shape[0]) for d in dims if d is not None]
    if family != "vit" and hasattr(model, "patch_embed"):
        # Other patch-embedding transformers (EVA, BEiT...) share ViT's depth/embed_dim/geometry
        # argument names; one that does not take an argument gets it dropped when building.
        args.update(_read_blocks(state))
        args.update(_read_geometry(model, state, _prefix_tokens(model, state)))
    return args


def _read_blocks(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """depth (top-level ``blocks.N``) and embed_dim (patch projection width) of a transformer."""
    args: dict[str, Any] = {}
    blocks = _indices(state, "blocks.")
    if blocks:
        args["depth"] = len(blocks)
    proj, pos = state.get("patch_embed.proj.weight"), state.get("pos_embed")
    dim = int(proj.shape[0]) if proj is not None else int(pos.shape[-1]) if pos is not None else 0
    if dim:
        args["embed_dim"] = dim
    return args


def _prefix_tokens(model: nn.Module, state: Mapping[str, torch.Tensor]) -> int:
    """Tokens before the patches in ``state``: the model's count, corrected for class/register tokens."""
    n = int(getattr(model, "num_prefix_tokens", 1))
    n -= int(getattr(model, "cls_token", None) is not None) + int(getattr(model, "num_reg_tokens", 0) or 0)
    n += int("cls_token" in state)
    reg = state.get("reg_token")
    n += int(reg.shape[1]) if reg is not None and reg.ndim == 3 else 0
    return max(n, 0)


def _read_geometry(model: nn.Module, state: Mapping[str, torch.Tensor], prefix: int) -> dict[str, Any]:
    """patch_size and img_size from the patch projection and the position embedding's length."""
    proj, pos = state.get("patch_embed.proj.weight"), state.get("pos_embed")
    if proj is None or pos is None or proj.ndim != 4 or pos.ndim != 3 or proj.shape[-1] != proj.shape[-2]:
        return {}
    patch = int(proj.shape[-1])
    tokens = int(pos.shape[1])
    no_embed_class = bool(getattr(model, "no_embed_class", False))
    # Try the model's own convention first; if only the other one gives a square grid, the
    # weights were trained with the other no_embed_class setting.
    for flag in (no_embed_class, not no_embed_class):
        n = tokens - (0 if flag else prefix)
        grid = math.isqrt(max(n, 0))
        if grid > 0 and grid * grid == n:
            out: dict[str, Any] = {"patch_size": patch, "img_size": grid * patch}
            if prefix and flag != no_embed_class:
                out["no_embed_class"] = flag
            return out
    return {}


def _read_vit(model: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    args = _read_blocks(state)
    blocks = _indices(state, "blocks.")
    dim = int(args.get("embed_dim", 0))
    if dim:
        fc1 = state.get(f"blocks.{blocks[0]}.mlp.fc1.weight") if blocks else None
        if fc1 is not None and fc1.ndim == 2:
            hidden = int(fc1.shape[0])
            ratio = hidden / dim
            # timm builds int(dim * mlp_ratio) features; make sure rounding gives back `hidden`.
            while int(dim * ratio) < hidden:
                ratio = math.nextafter(ratio, math.inf)
            args["mlp_ratio"] = ratio
    args["class_token"] = "cls_token" in state
    reg = state.get("reg_token")
    args["reg_tokens"] = int(reg.shape[1]) if reg is not None and reg.ndim == 3 else 0
    if "fc_norm.weight" in state:
        args["fc_norm"] = True
    elif "norm.weight" in state:
        args["fc_norm"] = False
    args.update(_read_geometry(model, state, _prefix_tokens(model, state)))
    return args


def infer_model_args(arch: str, state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Keyword arguments for ``timm.create_model(arch, ...)`` that make it fit ``state``.

    num_classes, in_chans (and a ViT's patch_size/img_size) always; structural arguments
    (depth, embed_dim, mlp_ratio, layers, depths, dims, ...) only where they differ from the
    architecture's defaults, so a stock checkpoint builds with timm's own settings.
    """
    probe = _probe(arch)
    if probe is None:
        return {}
    got = read_architecture(probe, state)
    default = read_architecture(probe, probe.state_dict())
    args = {k: v for k, v in got.items() if k in _ALWAYS or default.get(k) != v}
    if _family(probe) == "vit" and args.get("class_token") is False:
        # Token pooling needs the class token; without one timm's choice is average pooling,
        # which switches fc_norm's default, so say which norm the weights have.
        if getattr(probe, "global_pool", "") == "token":
            args["global_pool"] = "avg"
        if "fc_norm" in got:
            args["fc_norm"] = got["fc_norm"]
    return args


def _arg(key: str, value: Any) -> str:
    """``--model-arg KEY=VALUE`` in the form parse_model_args reads back, without shell-hostile spaces."""
    if isinstance(value, str) and _parse_value(value) == value:
        return f"--model-arg {key}={value}"  # reads back as the same string, so no quotes
    return f"--model-arg {key}={json.dumps(value, separators=(',', ':'))}"


def _create(arch: str, source: str, args: dict[str, Any], inferred: Collection[str]) -> nn.Module:
    """timm.create_model, dropping inferred arguments the architecture's constructor rejects."""
    import timm

    while True:
        try:
            return timm.create_model(arch, pretrained=False, **args)
        except TypeError as exc:
            m = re.search(r"keyword argument '(\w+)'", str(exc))
            if m and m.group(1) in args and m.group(1) in inferred:
                del args[m.group(1)]  # a guess this architecture does not take: build without it
                continue
            failure: Exception = exc
        except (ValueError, AssertionError, RuntimeError) as exc:
            failure = exc
        first = (str(failure).splitlines() or [type(failure).__name__])[0][:120]
        raise ModelLoadError(
            f"{source}: could not build timm architecture '{arch}' with {args} ({first}). "
            f"Pick the architecture the weights were trained with, or {_FALLBACK_HINT}."
        ) from None


def build_timm_model(
    arch: str,
    state: Mapping[str, torch.Tensor],
    source: str,
    args: dict[str, Any],
    *,
    inferred: Collection[str] = (),
) -> nn.Module:
    """``arch`` built with ``args`` and loaded with ``state``; ModelLoadError saying what to pass if it does not fit.

    Arguments named in ``inferred`` that the architecture rejects are removed from ``args``
    (in place, so the caller records what was actually built); others fail with a message.
    """
    check_architecture(arch, source)
    model = _create(arch, source, args, inferred)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape differs: " + ", ".join(
                f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:3]))
        if missing:
            parts.append("missing: " + ", ".join(missing[:5]))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:5]))
        raise ModelLoadError(
            f"{source}: these weights do not match timm architecture '{arch}' built with {args} "
            f"({'; '.join(parts)}). {_fix_hint(model, state, expected)}"
        )
    model.load_state_dict(dict(state))
    return model


def _fix_hint(model: nn.Module, state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str:
    """The --model-arg values that would make ``model``'s architecture fit ``state``, where readable."""
    want = read_architecture(model, state)
    have = read_architecture(model, expected)
    if want.get("class_token") is False and getattr(model, "global_pool", "") == "token":
        want["global_pool"] = "avg"  # token pooling needs the class token (see infer_model_args)
    fixes = [_arg(k, v) for k, v in want.items() if k in have and have[k] != v]
    fixes += [_arg(k, v) for k, v in want.items() if k not in have and v]
    if not fixes:
        return f"Pick the architecture the weights were trained with, or {_FALLBACK_HINT}."
    heads = ""
    if "embed_dim" in want and want["embed_dim"] != have.get("embed_dim"):
        heads = " (and a num_heads that divides embed_dim, which the weights do not show)"
    return (f"The weights say: pass {' '.join(fixes)}{heads}; "
            f"if that is not enough, pick the architecture the weights were trained with.")
