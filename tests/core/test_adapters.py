"""Model adapters: every source loads, and every bad input gets one clear message."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file
from torch import nn

from l2r_core.errors import ModelLoadError
from l2r_core.models.loading import load_model


def _save_timm(tmp: Path, arch: str, name: str = "w.safetensors", **kw: object) -> tuple[nn.Module, Path]:
    model = timm.create_model(arch, pretrained=False, **kw).eval()
    path = tmp / name
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    else:
        torch.save(model.state_dict(), path)
    return model, path


def test_timm_safetensors_infers_classes_and_matches_logits(tmp_path: Path) -> None:
    ref, path = _save_timm(tmp_path, "resnet10t", num_classes=7)
    m = load_model("timm:resnet10t", weights=path)
    assert m.num_classes == 7 and m.class_names[0] == "class 0" and m.supports_grad
    x = torch.randn(2, 3, 48, 48)
    assert torch.allclose(m.logits(x), ref(x), atol=1e-5)
    assert m.preprocessing.input_size == tuple(ref.pretrained_cfg["input_size"][1:])  # timm's config


def test_timm_pth_state_dict_and_vit_geometry_inferred(tmp_path: Path) -> None:
    ref, path = _save_timm(tmp_path, "vit_tiny_patch16_224", "vit.pth", num_classes=3, img_size=32,
                           patch_size=8, in_chans=1)
    m = load_model("timm:vit_tiny_patch16_224", weights=path)
    assert m.preprocessing.input_size == (32, 32) and m.preprocessing.grayscale
    x = torch.randn(1, 1, 32, 32)
    assert torch.allclose(m.logits(x), ref(x), atol=1e-5)
    logits, feats = m.logits_and_features(x)
    assert logits.shape == (1, 3) and len(feats) == 4 and feats[0].shape[-2:] == (4, 4)


def test_class_names_sidecar(tmp_path: Path) -> None:
    _, path = _save_timm(tmp_path, "resnet10t", num_classes=2)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    assert load_model("timm:resnet10t", weights=path, class_names=names).class_names == ["cat", "dog"]


def test_wrong_architecture_lists_mismatching_keys(tmp_path: Path) -> None:
    _, path = _save_timm(tmp_path, "resnet10t", num_classes=4)
    with pytest.raises(ModelLoadError) as e:
        load_model("timm:resnet18", weights=path)
    msg = str(e.value)
    assert str(path) in msg and "resnet18" in msg and ("missing" in msg or "shape" in msg)


def test_unknown_architecture_and_missing_files(tmp_path: Path) -> None:
    _, path = _save_timm(tmp_path, "resnet10t", num_classes=4)
    with pytest.raises(ModelLoadError, match="unknown timm architecture 'resnet_nope'"):
        load_model("timm:resnet_nope", weights=path)
    with pytest.raises(ModelLoadError, match="weights file not found"):
        load_model("timm:resnet10t", weights=tmp_path / "nope.safetensors")
    with pytest.raises(ModelLoadError, match="needs a local weights file"):
        load_model("timm:resnet10t")
    with pytest.raises(ModelLoadError, match="not a known model name"):
        load_model(str(tmp_path / "model.onnx"))


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {os.environ['L2R_SENTINEL']}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = tmp_path / "pwned"
    monkeypatch.setenv("L2R_SENTINEL", str(sentinel))
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"conv.weight": _Evil()}, f)
    with pytest.raises(ModelLoadError, match="refused"):
        load_model("timm:resnet10t", weights=path)
    assert not sentinel.exists()


def test_truncated_safetensors(tmp_path: Path) -> None:
    _, path = _save_timm(tmp_path, "resnet10t", num_classes=4)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="damaged or truncated"):
        load_model("timm:resnet10t", weights=path)


def test_non_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(ModelLoadError, match="not a plain state dict"):
        load_model("timm:resnet10t", weights=path)


def test_torchscript_adapter(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    path = tmp_path / "m.pt"
    torch.jit.script(net).save(str(path))
    m = load_model(str(path))
    assert m.kind == "torchscript" and m.num_classes == 5 and m.supports_grad
    x = torch.randn(1, 3, 224, 224, requires_grad=True)
    m.logits(x)[0, 1].backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    not_ts = tmp_path / "plain.pt"
    torch.save(net.state_dict(), not_ts)
    with pytest.raises(ModelLoadError, match="not a TorchScript archive"):
        load_model(str(not_ts))


def _export_onnx(net: nn.Module, path: Path, shape: tuple[int, ...]) -> None:
    torch.onnx.export(net, (torch.randn(*shape),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, dynamo=False)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_onnx_adapter_matches_torch(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 6)).eval()
    path = tmp_path / "m.onnx"
    _export_onnx(net, path, (1, 3, 40, 40))
    m = load_model(str(path))
    assert m.kind == "onnx" and not m.supports_grad and m.num_classes == 6
    x = torch.randn(3, 3, 40, 40)
    np.testing.assert_allclose(m.logits(x).numpy(), net(x).detach().numpy(), atol=1e-5)


def test_onnx_that_is_not_an_image_classifier(tmp_path: Path) -> None:
    path = tmp_path / "vec.onnx"
    _export_onnx(nn.Linear(8, 2).eval(), path, (1, 8))
    with pytest.raises(ModelLoadError, match="not one image batch"):
        load_model(str(path))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not onnx at all")
    with pytest.raises(ModelLoadError, match="not a valid ONNX model"):
        load_model(str(garbage))
