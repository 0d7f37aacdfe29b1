"""Generates a corpus of odd and hostile MODEL files (nothing binary is committed).

Run ``python -m tests.corpus.models OUT_DIR`` to write it by hand; tests call ``make_model_corpus``.
Every item is something a user could point the product at: a weights file, a model file, or an
explainer folder. ``expect_error_substring`` is None for the two good controls; otherwise every
loader must refuse the item with a ``ModelLoadError`` whose one-line message contains it.

Models are tiny (timm resnet10t, 3 classes, 32 px inputs through a sidecar JSON), explainers are
narrow (8 channels), so the whole corpus is written in a few seconds on one CPU thread.
"""
from __future__ import annotations

import builtins
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

NUM_CLASSES = 3
SIDE = 32
SENTINEL_NAME = "PWNED_by_pickle"  # created only if a loader ever runs the hostile pickle
MODEL_CARD = {"input_size": SIDE, "resize": "squash", "interpolation": "bilinear"}
SMALL_EXPLAINER = {"stage_channels": 8, "fusion_channels": 8, "head_channels": 4, "embed_dim": 8}


@dataclass(frozen=True)
class ModelCorpusItem:
    name: str
    path: Path  # the hostile file or folder itself
    spec: str  # load_model's spec (timm:<arch>, or the path of an ONNX/TorchScript file)
    weights: Path | None  # load_model's weights (timm only)
    expect_error_substring: str | None  # None: must load
    kind: str = "model"  # "model": load_model(spec, weights); "explainer": load_explainer(path, model)
    note: str = ""

    def cli_args(self) -> list[str]:
        """``--model ... [--weights ...] [--explainer ...]`` for the ``l2r`` command line."""
        args = ["--model", self.spec]
        if self.weights is not None:
            args += ["--weights", str(self.weights)]
        if self.kind == "explainer":
            args += ["--explainer", str(self.path)]
        return args


def sentinel_path(folder: Path) -> Path:
    return Path(folder) / SENTINEL_NAME


class _Pwn:
    """Unpickling this object creates the sentinel file: proof that code ran."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (builtins.open, (self.target, "w"))


def save_timm_weights(path: Path, seed: int = 0, arch: str = "resnet10t", sidecar: bool = True,
                      **kwargs: object) -> Path:
    """Random timm weights as .safetensors (plus a model card for 32 px inputs)."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    args = {"num_classes": NUM_CLASSES, **kwargs}
    model = timm.create_model(arch, pretrained=False, **args)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    if sidecar:
        path.with_suffix(".json").write_text(json.dumps(MODEL_CARD), encoding="utf-8")
    return path


def save_nan_head_weights(path: Path, seed: int = 0) -> Path:
    """resnet10t whose classifier bias holds a NaN: it loads, its features are finite, and every
    logit/probability it returns is NaN (a numerically broken but well-formed file)."""
    from safetensors.torch import load_file, save_file

    save_timm_weights(path, seed)
    state = load_file(str(path))
    state["fc.bias"] = state["fc.bias"].clone()
    state["fc.bias"][0] = float("nan")
    save_file(state, str(path))
    return path


def save_explainer_for(folder: Path, weights: Path) -> Path:
    """A small untrained explainer for the timm resnet10t in ``weights`` (seeded)."""
    import torch

    from l2r_core.explainer import ExplainerConfig, build_explainer, save_explainer
    from l2r_core.models.loading import load_model

    model = load_model("timm:resnet10t", weights=weights)
    torch.manual_seed(1)
    save_explainer(build_explainer(model, ExplainerConfig(**SMALL_EXPLAINER)), folder)
    return folder


def _export_onnx(net: object, path: Path, shape: tuple[int, ...]) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(*shape),), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, dynamo=False)


def _onnx_items(folder: Path) -> list[ModelCorpusItem]:
    from torch import nn

    items = []
    vec = folder / "vector_linear.onnx"
    _export_onnx(nn.Linear(8, 2).eval(), vec, (1, 8))
    items.append(ModelCorpusItem("onnx_vector_input", vec, str(vec), None, "not one image batch",
                                 note="Linear on a vector, not an image classifier"))
    img2img = folder / "image_to_image.onnx"
    _export_onnx(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1)).eval(), img2img, (1, 3, SIDE, SIDE))
    items.append(ModelCorpusItem("onnx_image_to_image", img2img, str(img2img), None, "not (batch, classes)",
                                 note="conv net with a 4-D output"))
    text = folder / "text.onnx"
    text.write_text("this is not an ONNX model\n", encoding="utf-8")
    items.append(ModelCorpusItem("onnx_text", text, str(text), None, "not a valid ONNX model"))
    empty = folder / "empty.onnx"
    empty.write_bytes(b"")
    items.append(ModelCorpusItem("onnx_empty", empty, str(empty), None, "not a valid ONNX model"))
    good = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, NUM_CLASSES))
    full = folder / "classifier_full.onnx"
    _export_onnx(good.eval(), full, (1, 3, SIDE, SIDE))
    cut = folder / "truncated.onnx"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    items.append(ModelCorpusItem("onnx_truncated", cut, str(cut), None, "not a valid ONNX model"))
    return items


def _weights_items(folder: Path, good: Path) -> list[ModelCorpusItem]:
    import torch

    sentinel = sentinel_path(folder)
    items = []
    raw = folder / "evil_raw_pickle.pth"
    raw.write_bytes(pickle.dumps({"conv1.0.weight": _Pwn(sentinel)}))
    items.append(ModelCorpusItem("evil_raw_pickle", raw, "timm:resnet10t", raw, "refused",
                                 note=f"unpickling would create {SENTINEL_NAME}"))
    zipped = folder / "evil_torch_save.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(1)}, "payload": _Pwn(sentinel)}, str(zipped))
    items.append(ModelCorpusItem("evil_torch_save", zipped, "timm:resnet10t", zipped, "refused",
                                 note="torch.save archive holding a code-running object"))
    vit = save_timm_weights(folder / "vit_weights.safetensors", 0, "vit_tiny_patch16_224", sidecar=False,
                            img_size=SIDE, patch_size=8, depth=1, embed_dim=32, num_heads=2)
    items.append(ModelCorpusItem("weights_of_another_architecture", good, "timm:resnet18", good, "do not match",
                                 note="resnet10t weights given as resnet18"))
    items.append(ModelCorpusItem("vit_weights_as_resnet", vit, "timm:resnet10t", vit, "do not match",
                                 note="ViT weights given as resnet10t (their shapes imply ViT-only options)"))
    cut = folder / "truncated.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    items.append(ModelCorpusItem("truncated_safetensors", cut, "timm:resnet10t", cut, "damaged or truncated"))
    empty = folder / "empty.safetensors"
    empty.write_bytes(b"")
    items.append(ModelCorpusItem("empty_weights", empty, "timm:resnet10t", empty, "empty"))
    items.append(ModelCorpusItem("unknown_architecture", good, "timm:resnet_nope", good,
                                 "unknown timm architecture"))
    not_ts = folder / "state_dict_as_torchscript.pt"
    torch.save({"w": torch.zeros(2)}, str(not_ts))
    items.append(ModelCorpusItem("state_dict_as_torchscript", not_ts, str(not_ts), None,
                                 "not a TorchScript archive"))
    text_pt = folder / "text.pt"
    text_pt.write_text("not a model\n", encoding="utf-8")
    items.append(ModelCorpusItem("text_as_torchscript", text_pt, str(text_pt), None, "not a TorchScript archive"))
    return items


def _explainer_items(folder: Path, good: Path, other: Path) -> list[ModelCorpusItem]:
    import shutil

    spec = "timm:resnet10t"
    ok = save_explainer_for(folder / "explainer_good", good)
    items = [ModelCorpusItem("explainer_good", ok, spec, good, None, "explainer", "control: must load")]
    foreign = save_explainer_for(folder / "explainer_for_other_model", other)
    items.append(ModelCorpusItem("explainer_for_other_model", foreign, spec, good, "was trained for", "explainer",
                                 "made for another model's weights"))

    def variant(name: str) -> Path:
        dst = folder / name
        shutil.copytree(ok, dst)
        return dst

    cut = variant("explainer_truncated_weights")
    w = cut / "explainer.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    items.append(ModelCorpusItem(cut.name, cut, spec, good, "damaged or truncated explainer weights", "explainer"))
    flip = variant("explainer_bitflip_weights")
    w = flip / "explainer.safetensors"
    data = bytearray(w.read_bytes())
    data[-16:] = bytes(b ^ 0xFF for b in data[-16:])  # inside the tensor bytes: still a valid file
    w.write_bytes(bytes(data))
    items.append(ModelCorpusItem(flip.name, flip, spec, good, "damaged or swapped", "explainer",
                                 "same size, flipped bytes: caught by the decoder fingerprint"))
    bad_json = variant("explainer_damaged_json")
    (bad_json / "explainer.json").write_text('{"format": "l2r-explainer", "version": 1,', encoding="utf-8")
    items.append(ModelCorpusItem(bad_json.name, bad_json, spec, good, "damaged explainer description", "explainer"))
    half = variant("explainer_missing_weights")
    (half / "explainer.safetensors").unlink()
    items.append(ModelCorpusItem(half.name, half, spec, good, "missing", "explainer"))
    text = folder / "explainer_text.onnx"
    text.write_text("not an ONNX explainer\n", encoding="utf-8")
    items.append(ModelCorpusItem("explainer_text_onnx", text, spec, good, "not a valid ONNX file", "explainer"))
    return items


def make_model_corpus(folder: Path) -> list[ModelCorpusItem]:
    """Write the corpus into ``folder`` (created). The first item is the good control model."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = save_timm_weights(folder / "tiny.safetensors", seed=0)
    other = save_timm_weights(folder / "other.safetensors", seed=1)
    items = [ModelCorpusItem("good_model", good, "timm:resnet10t", good, None, note="control: must load")]
    items += _weights_items(folder, good)
    items += _onnx_items(folder)
    items += _explainer_items(folder, good, other)
    return items


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "model_corpus")
    for item in make_model_corpus(out):
        verdict = "load  " if item.expect_error_substring is None else "refuse"
        print(f"{verdict} {item.kind:<9} {item.name:<34} {item.path}  {item.note}")
