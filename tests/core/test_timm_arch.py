"""timm architecture arguments inferred from weights: every one recovered, and the model loads exactly."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import timm
import torch
from safetensors.torch import save_file
from torch import nn

from l2r_core.errors import ConfigError, ModelLoadError
from l2r_core.models.timm_adapter import build_timm_model as adapter_build, load_timm
from l2r_core.models.timm_arch import build_timm_model, infer_model_args, parse_model_args

VIT = "vit_tiny_patch16_224"
# Small and unlike every default of vit_tiny_patch16_224 (depth 12, 224 px, patch 16, 3 channels,
# embed_dim 192, mlp_ratio 4, 1000 classes); num_heads stays 3 so it needs no --model-arg.
VIT_ARGS: dict[str, Any] = dict(depth=2, img_size=32, patch_size=8, in_chans=1, num_classes=5, embed_dim=48, mlp_ratio=2.0)


def _save(tmp: Path, arch: str, **kw: Any) -> tuple[nn.Module, Path, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = timm.create_model(arch, pretrained=False, **kw).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp / f"{arch}.safetensors"
    save_file(state, str(path))
    return model, path, state


def _same_outputs(ref: nn.Module, path: Path, arch: str, shape: tuple[int, ...], **model_args: Any) -> None:
    m = load_timm(arch, path, model_args=model_args or None)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(m.logits(x), ref(x), atol=1e-5)


def test_vit_every_argument_recovered_and_loads(tmp_path: Path) -> None:
    ref, path, state = _save(tmp_path, VIT, num_heads=3, **VIT_ARGS)
    args = infer_model_args(VIT, state)
    assert {k: args[k] for k in VIT_ARGS} == VIT_ARGS
    assert isinstance(args["mlp_ratio"], float)
    assert "class_token" not in args  # same as the architecture's default
    _same_outputs(ref, path, VIT, (2, 1, 32, 32))


def test_vit_without_class_token_and_unusual_mlp_ratio(tmp_path: Path) -> None:
    # int(28 * (61 / 28)) is 60: the inferred ratio must still rebuild fc1 with 61 features.
    assert int(28 * (61 / 28)) == 60
    ref, path, state = _save(tmp_path, VIT, depth=1, img_size=16, patch_size=8, embed_dim=28, num_heads=4,
                             mlp_ratio=61 / 28 + 1e-9, class_token=False, global_pool="avg", num_classes=2)
    args = infer_model_args(VIT, state)
    assert args["class_token"] is False and args["global_pool"] == "avg" and args["fc_norm"] is True
    assert int(28 * args["mlp_ratio"]) == 61
    _same_outputs(ref, path, VIT, (1, 3, 16, 16), num_heads=4)
    with pytest.raises(ModelLoadError) as e:
        build_timm_model(VIT, state, "w", {"depth": 1, "img_size": 16, "patch_size": 8, "num_classes": 2})
    assert all(f"--model-arg {a}" in str(e.value) for a in ("class_token=false", "global_pool=avg", "fc_norm=true"))


def test_vit_headless_weights(tmp_path: Path) -> None:
    ref, path, state = _save(tmp_path, VIT, depth=1, img_size=16, patch_size=8, num_classes=0)
    assert infer_model_args(VIT, state)["num_classes"] == 0
    _same_outputs(ref, path, VIT, (1, 3, 16, 16))


def test_resnet_layers(tmp_path: Path) -> None:
    _, _, state10t = _save(tmp_path, "resnet10t", num_classes=3)
    assert infer_model_args("resnet10t", state10t).get("layers", [1, 1, 1, 1]) == [1, 1, 1, 1]
    ref, path, state = _save(tmp_path, "resnet18", layers=[1, 2, 1, 1], num_classes=3, in_chans=2)
    args = infer_model_args("resnet18", state)
    assert (args["layers"], args["num_classes"], args["in_chans"]) == ([1, 2, 1, 1], 3, 2)
    _same_outputs(ref, path, "resnet18", (1, 2, 32, 32))


def test_convnext_depths_and_dims(tmp_path: Path) -> None:
    ref, path, state = _save(tmp_path, "convnext_atto", depths=[1, 1, 2, 1], dims=[8, 16, 24, 32], num_classes=4)
    args = infer_model_args("convnext_atto", state)
    assert (args["depths"], args["dims"], args["num_classes"]) == ([1, 1, 2, 1], [8, 16, 24, 32], 4)
    _same_outputs(ref, path, "convnext_atto", (1, 3, 32, 32))


def test_mismatch_names_the_model_arg_that_fixes_it(tmp_path: Path) -> None:
    _, path, state = _save(tmp_path, VIT, num_heads=3, **VIT_ARGS)
    with pytest.raises(ModelLoadError) as e:
        load_timm(VIT, path, model_args={"depth": 4})  # the user's wrong value wins, then is explained
    msg = str(e.value)
    assert str(path) in msg and "missing: blocks.2." in msg and "--model-arg depth=2" in msg and "\n" not in msg
    with pytest.raises(ModelLoadError) as e:
        build_timm_model(VIT, state, "w.safetensors", {})  # timm's defaults throughout
    msg = str(e.value)
    assert msg.startswith("w.safetensors: ")
    for hint in ("depth=2", "embed_dim=48", "mlp_ratio=2.0", "img_size=32", "in_chans=1", "num_classes=5", "num_heads"):
        assert hint in msg


def test_mismatch_without_readable_fix_suggests_model_args(tmp_path: Path) -> None:
    _, path, _ = _save(tmp_path, "resnet10t", num_classes=4)  # deep stem: no argument of resnet18 fits
    with pytest.raises(ModelLoadError, match=r"pass the architecture's arguments with --model-arg KEY=VALUE"):
        load_timm("resnet18", path)


def test_rejected_inferred_argument_is_dropped(tmp_path: Path) -> None:
    _, _, state = _save(tmp_path, "resnet10t", num_classes=4)
    args = {"num_classes": 4, "embed_dim": 7}
    model = build_timm_model("resnet10t", state, "w", args, inferred=["embed_dim"])
    assert args == {"num_classes": 4} and model.num_classes == 4
    with pytest.raises(ModelLoadError, match="could not build"):  # the user's own typo is reported
        build_timm_model("resnet10t", state, "w", {"embed_dim": 7})
    assert adapter_build is build_timm_model


def test_parse_model_args() -> None:
    assert parse_model_args(["depth=6", "mlp_ratio=2.5", "layers=[2,2,2,2]", "class_token=false",
                             "global_pool=avg", "fc_norm=True", "dims=(8, 16)", "act_layer=\"gelu\""]) == {
        "depth": 6, "mlp_ratio": 2.5, "layers": [2, 2, 2, 2], "class_token": False,
        "global_pool": "avg", "fc_norm": True, "dims": (8, 16), "act_layer": "gelu"}
    assert parse_model_args([]) == {}
    for bad in ("depth", "=6", "depth=", "two words=1", "6=depth"):
        with pytest.raises(ConfigError, match=r"--model-arg KEY=VALUE") as e:
            parse_model_args([bad])
        assert repr(bad) in str(e.value)
