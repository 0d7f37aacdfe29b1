"""Explainer files: round trip, refusal of another model's explainer, damaged files, atomic writes."""
from __future__ import annotations

import json

import pytest
import timm
import torch

from l2r_core.errors import ModelLoadError
from l2r_core.explainer import ExplainerConfig, build_explainer, explainer_fingerprint, load_explainer, save_explainer
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.models.timm_adapter import TimmAdapter
from l2r_core.models.weights import tensor_fingerprint

SMALL = ExplainerConfig(stage_channels=16, fusion_channels=8, head_channels=4, embed_dim=8)


def adapter_from_state(arch: str, state: dict, size: int = 32, name: str | None = None, **kw: object) -> TimmAdapter:
    model = timm.create_model(arch, pretrained=False, num_classes=5, **kw)
    model.load_state_dict(state)
    a = TimmAdapter(model, arch, Preprocessing(input_size=(size, size)), [f"c{i}" for i in range(5)],
                    tensor_fingerprint(state))
    if name:
        a.name = name
    return a


@pytest.fixture()
def resnet_state() -> dict:
    return timm.create_model("resnet10t", pretrained=False, num_classes=5).state_dict()


@pytest.fixture()
def trained(resnet_state, tmp_path):
    """An explainer with non-default decoder weights, saved to tmp_path/ex."""
    ex = build_explainer(adapter_from_state("resnet10t", resnet_state), SMALL)
    with torch.no_grad():
        for p in ex.decoder.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    save_explainer(ex, tmp_path / "ex", extra={"training": {"steps": 3, "lr": 3e-4}})
    return ex


def test_round_trip_gives_identical_maps(trained, resnet_state, tmp_path) -> None:
    fresh = adapter_from_state("resnet10t", resnet_state)  # same weights, new objects
    loaded = load_explainer(tmp_path / "ex", fresh)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, la = trained.explain(x, [1, 2])
        b, lb = loaded.explain(x, [1, 2])
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert explainer_fingerprint(loaded) == explainer_fingerprint(trained)
    assert loaded.config == trained.config
    # the JSON file or the weights file may be named instead of the folder
    for name in ("explainer.json", "explainer.safetensors"):
        again = load_explainer(tmp_path / "ex" / name, fresh)
        assert explainer_fingerprint(again) == explainer_fingerprint(trained)


def test_json_is_readable_and_complete(trained, tmp_path) -> None:
    meta = json.loads((tmp_path / "ex" / "explainer.json").read_text())
    assert meta["format"] == "l2r-explainer" and meta["version"] == 1
    assert meta["config"]["stage_channels"] == 16 and meta["config"]["num_classes"] == 5
    assert meta["target"]["fingerprint"] == trained.model.fingerprint
    assert meta["target"]["name"] == "timm:resnet10t"
    assert meta["preprocessing"]["input_size"] == [32, 32]
    assert meta["feature_channels"] == [64, 128, 256, 512]
    assert meta["extra"] == {"training": {"steps": 3, "lr": 3e-4}}
    assert meta["decoder_fingerprint"] == explainer_fingerprint(trained)


def test_refuses_explainer_of_another_model(trained, tmp_path) -> None:
    other_state = timm.create_model("resnet10t", pretrained=False, num_classes=5).state_dict()
    other = adapter_from_state("resnet10t", other_state, name="my-resnet")
    with pytest.raises(ModelLoadError) as err:
        load_explainer(tmp_path / "ex", other)
    msg = str(err.value)
    assert "timm:resnet10t" in msg and "my-resnet" in msg
    assert trained.model.fingerprint[:8] in msg and other.fingerprint[:8] in msg
    assert "l2r train" in msg


def test_refuses_damaged_files(trained, resnet_state, tmp_path) -> None:
    model = adapter_from_state("resnet10t", resnet_state)
    weights = tmp_path / "ex" / "explainer.safetensors"
    meta = tmp_path / "ex" / "explainer.json"
    good_weights, good_meta = weights.read_bytes(), meta.read_text()

    weights.write_bytes(good_weights[: len(good_weights) // 2])  # truncated copy
    with pytest.raises(ModelLoadError, match="damaged or truncated"):
        load_explainer(tmp_path / "ex", model)

    raw = bytearray(good_weights)
    raw[-10] ^= 0xFF  # one flipped byte in the tensor data: only the fingerprint sees it
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelLoadError, match="do not match"):
        load_explainer(tmp_path / "ex", model)
    weights.write_bytes(good_weights)

    meta.write_text(good_meta[:40])
    with pytest.raises(ModelLoadError, match="damaged explainer description"):
        load_explainer(tmp_path / "ex", model)
    meta.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ModelLoadError, match="not an L2R explainer"):
        load_explainer(tmp_path / "ex", model)
    meta.write_text(good_meta)
    assert load_explainer(tmp_path / "ex", model) is not None

    weights.unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_explainer(tmp_path / "ex", model)
    with pytest.raises(ModelLoadError, match="not found"):
        load_explainer(tmp_path / "nowhere", model)


def test_save_is_atomic_and_overwrites(trained, tmp_path) -> None:
    folder = tmp_path / "ex"
    first = explainer_fingerprint(trained)
    with torch.no_grad():
        trained.decoder.head_out.bias.add_(1.0)
    out = save_explainer(trained, folder)
    assert out == folder / "explainer.json"
    assert sorted(p.name for p in folder.iterdir()) == ["explainer.json", "explainer.safetensors"]  # no temp left
    meta = json.loads(out.read_text())
    assert meta["decoder_fingerprint"] == explainer_fingerprint(trained) != first
    with pytest.raises(TypeError):
        save_explainer(trained, folder, extra={("tuple", "key"): 1})  # JSON cannot hold it: nothing written
    assert sorted(p.name for p in folder.iterdir()) == ["explainer.json", "explainer.safetensors"]
    assert json.loads(out.read_text())["decoder_fingerprint"] == explainer_fingerprint(trained)


def test_vit_round_trip(tmp_path) -> None:
    kw = {"img_size": 32, "patch_size": 4, "in_chans": 1}
    state = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5, **kw).state_dict()
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5, **kw)
    model.load_state_dict(state)
    pre = Preprocessing(input_size=(32, 32), grayscale=True)
    adapter = TimmAdapter(model, "vit_tiny_patch16_224", pre, list("abcde"), tensor_fingerprint(state))
    ex = build_explainer(adapter, SMALL)
    save_explainer(ex, tmp_path / "vit")
    loaded = load_explainer(tmp_path / "vit", adapter)
    assert loaded.decoder.token_grid
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(ex.explain(x, [3])[0], loaded.explain(x, [3])[0])


def test_weights_of_another_decoder_layout_are_refused(trained, resnet_state, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    weights = tmp_path / "ex" / "explainer.safetensors"
    meta_path = tmp_path / "ex" / "explainer.json"
    state = load_file(str(weights))
    state["to_fusion.0.weight"] = torch.zeros(8, 16, 3, 3)  # the old 3x3 projection
    save_file(state, str(weights))
    meta = json.loads(meta_path.read_text())
    meta.pop("decoder_fingerprint")
    meta["decoder_version"] = 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="decoder version 1.*l2r train"):
        load_explainer(tmp_path / "ex", adapter_from_state("resnet10t", resnet_state))
