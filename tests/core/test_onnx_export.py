"""ONNX export of the explainer (alone and fused): checker, parity with torch, dynamic batch,
metadata round trip, refusal of another model's file, the fused map used by the explainer API."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import timm
import torch
from safetensors.torch import save_file

from l2r_core.errors import ConfigError, ModelLoadError
from l2r_core.explainer import ExplainerConfig, build_explainer, explainer_fingerprint, load_explainer, save_explainer
from l2r_core.models import load_model
from l2r_core.onnx.adapter import OnnxAdapter
from l2r_core.onnx.explainer import FusedOnnxAdapter, OnnxExplainer, fused_explainer, load_onnx_model
from l2r_core.onnx import export_onnx, read_metadata
from l2r_core.onnx import export as export_module

SIZE = 48
NAMES = [f"kind {i}" for i in range(6)]
SMALL = ExplainerConfig(stage_channels=16, fusion_channels=8, head_channels=4, embed_dim=8)
TOL = 1e-4


def make_tiny_model(folder: Path, seed: int = 0, size: int = SIZE) -> Path:
    """resnet10t with random weights as safetensors + model card (preprocessing, class names)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=len(NAMES))
    weights = folder / "model.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    card = {"input_size": size, "resize": "squash", "mean": [0.5], "std": [0.25], "interpolation": "bilinear",
            "class_names": NAMES}
    (folder / "model.json").write_text(json.dumps(card), encoding="utf-8")
    return weights


def make_explainer_dir(weights: Path, folder: Path) -> Path:
    """A fresh (untrained, non-zero) explainer for the model at ``weights``, saved to ``folder``."""
    ex = build_explainer(load_model("timm:resnet10t", weights=weights), SMALL)
    save_explainer(ex, folder)
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One model, its explainer and both exports (traced at batch 1), shared by the tests below."""
    root = tmp_path_factory.mktemp("onnx")
    weights = make_tiny_model(root / "model")
    model = load_model("timm:resnet10t", weights=weights)
    torch.manual_seed(1)
    ex = build_explainer(model, SMALL)
    alone = export_onnx(ex, root / "explainer.onnx")
    fused = export_onnx(ex, root / "fused.onnx", fused=True)
    return {"root": root, "weights": weights, "model": model, "explainer": ex, "alone": alone, "fused": fused}


def _batch(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7))


def test_files_pass_the_checker_with_a_dynamic_batch_axis(exported) -> None:
    for res, inputs in ((exported["alone"], ["image", "target"]), (exported["fused"], ["image"])):
        proto = onnx.load(str(res.path))
        onnx.checker.check_model(proto, full_check=True)
        assert [i.name for i in proto.graph.input] == inputs
        assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
        batch_dims = [i.type.tensor_type.shape.dim[0] for i in list(proto.graph.input) + list(proto.graph.output)]
        assert all(d.dim_param == "batch" and not d.dim_value for d in batch_dims)
        assert res.max_abs_diff <= TOL and res.size_bytes == res.path.stat().st_size


def test_explainer_only_matches_torch_on_batch_of_three(exported) -> None:
    ex, model = exported["explainer"], exported["model"]
    onnx_ex = load_explainer(exported["alone"].path, model)
    assert isinstance(onnx_ex, OnnxExplainer)
    x, targets = _batch(3), [0, 5, 2]
    with torch.no_grad():
        want, want_logits = ex.explain(x, targets)
    got, logits = onnx_ex.explain(x, targets)
    assert got.shape == (3, SIZE, SIZE)
    assert float((got - want).abs().max()) < TOL and float(want.abs().max()) > 1e-3  # a real, non-zero map
    assert torch.equal(logits, want_logits)
    # the class really conditions the map: another target gives another map
    other, _ = onnx_ex.explain(x, [1, 1, 1])
    assert float((other - got).abs().max()) > 1e-4
    # targets=None -> top-1 of the model
    top, _ = onnx_ex.explain(x)
    with torch.no_grad():
        want_top, _ = ex.explain(x)
    assert float((top - want_top).abs().max()) < TOL


def test_fused_file_loads_as_classifier_and_carries_the_top_class_map(exported) -> None:
    ex = exported["explainer"]
    for adapter in (load_model(str(exported["fused"].path)), load_onnx_model(exported["fused"].path)):
        assert isinstance(adapter, OnnxAdapter) and not adapter.supports_grad
        x = _batch(3)
        with torch.no_grad():
            want_maps, want_logits = ex.explain(x)
        fx = fused_explainer(adapter)
        assert fx is not None
        maps, logits = fx.explain(x)
        assert float((logits - want_logits).abs().max()) < TOL
        assert float((maps - want_maps).abs().max()) < TOL
        assert float((adapter.logits(x) - want_logits).abs().max()) < TOL
        top = want_logits.argmax(-1)
        assert float((fx.explain(x, top)[0] - maps).abs().max()) == 0.0  # same top classes: accepted
    assert isinstance(load_onnx_model(exported["fused"].path), FusedOnnxAdapter)


def test_fused_adapter_logits_only_path_matches_fused_run(exported) -> None:
    adapter = load_onnx_model(exported["fused"].path)
    x1, x2 = _batch(2), _batch(2) * 0.5
    fused_logits = torch.from_numpy(adapter.run_fused(x1)[0].copy())
    cached = adapter.logits(x1)  # same input: from the fused run
    fresh = adapter.logits(x2)  # new input: the logits-only subgraph
    with torch.no_grad():
        want = exported["model"].logits(x2)
    assert torch.equal(cached, fused_logits)
    assert float((fresh - want).abs().max()) < TOL and adapter._logits_session is not None


def test_fused_explainer_refuses_a_class_other_than_the_top_one(exported) -> None:
    adapter = load_onnx_model(exported["fused"].path)
    x = _batch(1)
    top = int(adapter.logits(x).argmax())
    with pytest.raises(ConfigError, match=r"only the top class .*without --fused"):
        fused_explainer(adapter).explain(x, [(top + 1) % len(NAMES)])


def test_metadata_round_trip(exported) -> None:
    model, ex = exported["model"], exported["explainer"]
    adapter = load_model(str(exported["fused"].path))
    assert adapter.preprocessing == model.preprocessing and adapter.class_names == NAMES
    for res, kind in ((exported["alone"], "explainer"), (exported["fused"], "fused")):
        meta = read_metadata(str(res.path))
        assert meta.kind == kind
        assert meta.model_fingerprint == model.fingerprint and meta.model["name"] == "timm:resnet10t"
        assert meta.explainer_fingerprint == explainer_fingerprint(ex)
        assert ExplainerConfig.from_dict(meta.explainer["config"]) == ex.config
        assert meta.class_names == NAMES and meta.preprocessing == model.preprocessing.to_dict()
        assert meta.exporter["opset"] >= 17 and meta.exporter["torch"] == torch.__version__
    onnx_ex = load_explainer(exported["alone"].path, model)
    assert onnx_ex.fingerprint == explainer_fingerprint(ex) and onnx_ex.config == ex.config


def test_explainer_file_refuses_another_models_weights(exported, tmp_path) -> None:
    other = load_model("timm:resnet10t", weights=make_tiny_model(tmp_path / "other", seed=3))
    with pytest.raises(ModelLoadError, match=r"exported for timm:resnet10t .*fingerprint"):
        load_explainer(exported["alone"].path, other)
    # the fused file of the same model stands for the same weights: accepted as the model
    fused_model = load_model(str(exported["fused"].path))
    assert load_explainer(exported["alone"].path, fused_model).explain(_batch(2))[0].shape == (2, SIZE, SIZE)


def test_explainer_only_file_is_not_a_classifier(exported, tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="pass this file as --explainer"):
        load_onnx_model(exported["alone"].path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(ModelLoadError, match="not a valid ONNX"):
        load_onnx_model(junk)
    with pytest.raises(ModelLoadError, match="not a valid ONNX"):
        load_explainer(junk, exported["model"])


def test_failed_parity_or_bad_name_writes_nothing(exported, tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match=r"must end in \.onnx"):
        export_onnx(exported["explainer"], tmp_path / "x.bin")
    monkeypatch.setattr(export_module, "max_abs_difference", lambda *a, **k: 0.5)
    with pytest.raises(export_module.OnnxParityError, match="differs from torch by 0.5"):
        export_onnx(exported["explainer"], tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_vit_export_parity_with_dynamic_batch(tmp_path) -> None:
    from ..core.fixtures_models import tiny_vit

    model = tiny_vit(32, depth=4)
    ex = build_explainer(model, SMALL)
    res = export_onnx(ex, tmp_path / "vit.onnx", fused=True)
    adapter = load_model(str(res.path))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        want_maps, want_logits = ex.explain(x)
    maps, logits = fused_explainer(adapter).explain(x)
    assert float((maps - want_maps).abs().max()) < TOL and float((logits - want_logits).abs().max()) < TOL
    assert np.isfinite(maps.numpy()).all()


def test_image_skip_explainer_round_trips_and_exports(tmp_path) -> None:
    from l2r_core.explainer import load_explainer

    from ..core.fixtures_models import tiny_vit

    model = tiny_vit(32, depth=4)
    ex = build_explainer(model, ExplainerConfig(**{**SMALL.to_dict(), "image_skip": True}))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want, _ = ex.explain(x)
        loaded, _ = load_explainer(save_explainer(ex, tmp_path / "ex").parent, model).explain(x)
    assert torch.equal(loaded, want)
    res = export_onnx(ex, tmp_path / "skip.onnx", fused=True)
    maps, _ = fused_explainer(load_model(str(res.path))).explain(x)
    assert float((maps - want).abs().max()) < TOL


def test_classifier_class_source_round_trips_and_exports(tmp_path) -> None:
    """The classifier rows are not saved with the decoder (they are the target's own); loading
    takes them from the model again, and the ONNX file carries them as constants."""
    from l2r_core.explainer import load_explainer

    from ..core.fixtures_models import tiny_vit

    model = tiny_vit(32, depth=4)
    ex = build_explainer(model, ExplainerConfig(**{**SMALL.to_dict(), "class_source": "classifier"}))
    torch.nn.init.normal_(ex.decoder.class_proj.weight, std=0.5)  # a trained projection
    assert not any(k.startswith("class_rows") for k in ex.decoder.state_dict())
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([1, 3])
    with torch.no_grad():
        want, _ = ex.explain(x, t)
        loaded, _ = load_explainer(save_explainer(ex, tmp_path / "ex").parent, model).explain(x, t)
    assert torch.equal(loaded, want)
    res = export_onnx(ex, tmp_path / "cls.onnx", fused=False)
    got, _ = load_explainer(res.path, model).explain(x, t)
    assert float((got - want).abs().max()) < TOL


def test_class_evidence_explainer_exports_with_parity(tmp_path) -> None:
    """The evidence map (the head's input map and the classifier rows) is part of the exported graph."""
    weights = make_tiny_model(tmp_path / "model", size=96)
    model = load_model("timm:resnet10t", weights=weights)
    ex = build_explainer(model, ExplainerConfig(**{**SMALL.to_dict(), "class_source": "classifier",
                                                   "class_evidence": True}))
    with torch.no_grad():
        ex.decoder.evidence_log_gain.fill_(0.3)
    x, t = torch.randn(2, 3, 96, 96), torch.tensor([1, 4])
    with torch.no_grad():
        want, _ = ex.explain(x, t)
        want_top, _ = ex.explain(x)
    alone = export_onnx(ex, tmp_path / "evidence.onnx")
    got, _ = load_explainer(alone.path, model).explain(x, t)
    assert float((got - want).abs().max()) < TOL
    fused = export_onnx(ex, tmp_path / "fused.onnx", fused=True)
    top, _ = fused_explainer(load_model(str(fused.path))).explain(x)
    assert float((top - want_top).abs().max()) < TOL
