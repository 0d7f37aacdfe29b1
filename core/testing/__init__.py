"""Tiny models, weights files, explainers and images for tests: this project's and users' own.

The factories need only torch and timm and run in well under a second on one CPU thread. The
fixtures in ``l2r_core.testing.plugin`` wrap them for pytest (enable with ``-p l2r_core.testing.plugin``
or ``pytest_plugins = ["l2r_core.testing.plugin"]`` in a conftest)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from ..explainer import Explainer, ExplainerConfig, build_explainer, save_explainer
from ..metrics.soft import SoftLossConfig, soft_rank_loss
from ..models.class_names import default_class_names
from ..models.preprocessing import Preprocessing
from ..models.timm_adapter import TimmAdapter
from ..models.weights import tensor_fingerprint

SIZE = 32
TINY_EXPLAINER = ExplainerConfig(stage_channels=8, fusion_channels=8, head_channels=4, embed_dim=8)
TINY_LOSS = SoftLossConfig(grid_min=3, grid_max=5, n_iters=5, n_percentiles=4, percentile_samples=0)
VIT_ARGS: dict[str, Any] = dict(patch_size=8, depth=2, embed_dim=32, num_heads=2)


def tiny_timm(arch: str = "resnet10t", *, size: int | tuple[int, int] = SIZE, num_classes: int = 5,
              class_names: Sequence[str] | None = None, seed: int = 0, channels: int = 3,
              **model_args: Any) -> TimmAdapter:
    """A timm architecture with random weights (``seed``), the whole image squashed to ``size``."""
    import timm

    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    torch.manual_seed(seed)
    net = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=channels, **model_args)
    pre = Preprocessing(input_size=hw, resize="squash", interpolation="bilinear", grayscale=channels == 1)
    names = list(class_names) if class_names else default_class_names(num_classes)
    return TimmAdapter(net, arch, pre, names, tensor_fingerprint(net.state_dict()), "l2r_core.testing",
                       dict(model_args, num_classes=num_classes, in_chans=channels))


def tiny_cnn(size: int | tuple[int, int] = SIZE, num_classes: int = 5, **kwargs: Any) -> TimmAdapter:
    """timm resnet10t: a 1x1 final map at 32 px, 2x2 at 64 px."""
    return tiny_timm("resnet10t", size=size, num_classes=num_classes, **kwargs)


def tiny_vit(size: int | tuple[int, int] = SIZE, num_classes: int = 5, **kwargs: Any) -> TimmAdapter:
    """timm ViT with 8-px patches, 2 blocks of width 32 (a 4x4 token grid at 32 px)."""
    args = dict(VIT_ARGS, img_size=size)
    args.update(kwargs)
    return tiny_timm("vit_tiny_patch16_224", size=size, num_classes=num_classes, **args)


def save_tiny_weights(folder: str | Path, arch: str = "resnet10t", *, num_classes: int = 5, size: int = SIZE,
                      seed: int = 0, class_names: Sequence[str] | None = None, card: bool = True,
                      **model_args: Any) -> Path:
    """``folder/<arch>.safetensors`` with random weights, plus its model card (``<arch>.json``:
    ``size`` px, squash, the class names) so ``load_model("timm:<arch>", weights=...)`` needs no flags."""
    from safetensors.torch import save_file

    import timm

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = timm.create_model(arch, pretrained=False, num_classes=num_classes, **model_args)
    path = out / f"{arch}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    if card:
        data: dict[str, Any] = {"input_size": size, "resize": "squash", "interpolation": "bilinear"}
        if class_names:
            data["class_names"] = list(class_names)
        path.with_suffix(".json").write_text(json.dumps(data), encoding="utf-8")
    return path


def tiny_explainer(model: TimmAdapter, *, steps: int = 2, seed: int = 0, folder: str | Path | None = None,
                   config: ExplainerConfig = TINY_EXPLAINER) -> Explainer:
    """A small explainer for ``model``, trained ``steps`` Adam steps on the soft deletion/insertion
    loss of random images (so its maps depend on the image and the class); saved to ``folder`` if given."""
    torch.manual_seed(seed)
    explainer = build_explainer(model, config)
    gen = torch.Generator().manual_seed(seed)
    h, w = model.preprocessing.input_size
    params = explainer.trainable_parameters()
    opt = torch.optim.Adam(params, lr=1e-3)
    for _ in range(steps):
        x = torch.randn(2, model.preprocessing.channels, h, w, generator=gen)
        maps, logits = explainer.explain(x)
        loss, _ = soft_rank_loss(model, x, maps, logits.argmax(-1), TINY_LOSS, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    explainer.eval()
    if folder is not None:
        save_explainer(explainer, folder)
    return explainer


def write_images(folder: str | Path, n: int = 4, size: tuple[int, int] = (40, 40), seed: int = 0,
                 classes: Sequence[str] = ()) -> list[Path]:
    """``n`` random RGB PNGs of ``size`` (w, h); split over class subfolders when ``classes`` are given."""
    rng = np.random.default_rng(seed)
    root, paths = Path(folder), []
    for i in range(n):
        sub = root / classes[i % len(classes)] if classes else root
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"img{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


__all__ = ["SIZE", "TINY_EXPLAINER", "save_tiny_weights", "tiny_cnn", "tiny_explainer", "tiny_timm", "tiny_vit",
           "write_images"]
