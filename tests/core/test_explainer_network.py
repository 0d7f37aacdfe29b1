"""Explainer network: shapes for CNNs and ViTs, class conditioning, frozen target, one target pass."""
from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from l2r_core.errors import ConfigError
from l2r_core.explainer import Explainer, ExplainerConfig, build_explainer
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.models.timm_adapter import TimmAdapter
from l2r_core.models.torchscript_adapter import TorchScriptAdapter

SMALL = ExplainerConfig(stage_channels=16, fusion_channels=8, head_channels=4, embed_dim=8)


def tiny_timm(arch: str, size: int, classes: int = 5, **kw: object) -> TimmAdapter:
    model = timm.create_model(arch, pretrained=False, num_classes=classes, **kw)
    pre = Preprocessing(input_size=(size, size), grayscale=kw.get("in_chans", 3) == 1)
    return TimmAdapter(model, arch, pre, [f"c{i}" for i in range(classes)], f"fp-{arch}-{size}")


CASES = [
    ("resnet10t", 64, {}),
    ("vit_tiny_patch16_224", 32, {"img_size": 32, "patch_size": 8}),
    ("vit_tiny_patch16_224", 32, {"img_size": 32, "patch_size": 4, "in_chans": 1}),
]


@pytest.mark.parametrize("arch,size,kw", CASES, ids=["resnet10t", "vit-p8", "vit-p4-gray"])
def test_maps_have_input_resolution(arch: str, size: int, kw: dict) -> None:
    adapter = tiny_timm(arch, size, **kw)
    ex = build_explainer(adapter, SMALL)
    x = torch.randn(3, adapter.preprocessing.channels, size, size)
    maps, logits = ex.explain(x, torch.tensor([0, 1, 4]))
    assert maps.shape == (3, size, size)
    assert logits.shape == (3, 5)
    assert torch.isfinite(maps).all()
    assert ex.decoder.token_grid == arch.startswith("vit")
    assert ex.config.num_classes == 5 and ex.config.input_size == (size, size)


def test_vit_reassemble_gives_four_scales() -> None:
    adapter = tiny_timm("vit_tiny_patch16_224", 32, img_size=32, patch_size=4, in_chans=1)
    ex = build_explainer(adapter, SMALL)
    _, feats = ex.features(torch.randn(1, 1, 32, 32))
    emb = ex.decoder.class_embed(torch.tensor([0]))
    sizes = [tuple(r(f, emb).shape[-2:]) for f, r in zip(feats, ex.decoder.reassemble)]
    assert sizes == [(32, 32), (16, 16), (8, 8), (4, 4)]  # 4x, 2x, 1x, 0.5x of the 8x8 grid


@pytest.mark.parametrize("arch,size,kw", CASES[:2], ids=["resnet10t", "vit-p8"])
def test_map_depends_on_requested_class(arch: str, size: int, kw: dict) -> None:
    ex = build_explainer(tiny_timm(arch, size, **kw), SMALL)
    x = torch.randn(1, 3, size, size).repeat(2, 1, 1, 1)
    with torch.no_grad():
        maps, _ = ex.explain(x, torch.tensor([1, 3]))
    diff = (maps[0] - maps[1]).abs().mean()
    assert diff > 1e-3 * (maps.abs().mean() + 1e-6)
    assert diff > 1e-5
    with torch.no_grad():  # and the same class twice gives the same map
        same, _ = ex.explain(x, torch.tensor([2, 2]))
    torch.testing.assert_close(same[0], same[1])


def test_default_target_is_top1() -> None:
    ex = build_explainer(tiny_timm("resnet10t", 32), SMALL)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        auto, logits = ex.explain(x)
        manual, _ = ex.explain(x, logits.argmax(-1))
    torch.testing.assert_close(auto, manual)


def test_gradients_reach_decoder_not_target() -> None:
    adapter = tiny_timm("resnet10t", 32)
    ex = build_explainer(adapter, SMALL)
    maps, _ = ex.explain(torch.randn(2, 3, 32, 32), [0, 1])
    (maps ** 2).mean().backward()
    params = ex.trainable_parameters()
    assert len(params) == len(list(ex.decoder.parameters())) > 10
    with_grad = [p for p in params if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(with_grad) >= len(params) - 2  # FiLM gamma starts at 0, so only its weights may see 0 grad
    assert ex.decoder.head_out.weight.grad.abs().sum() > 0
    assert ex.decoder.class_embed.weight.grad[:2].abs().sum() > 0
    assert ex.decoder.class_embed.weight.grad[2:].abs().sum() == 0  # unused classes untouched
    assert all(p.grad is None and not p.requires_grad for p in adapter.module.parameters())


@pytest.mark.parametrize("arch,size,kw,stem,head", [
    ("resnet10t", 32, {}, "conv1", "fc"),
    ("vit_tiny_patch16_224", 32, {"img_size": 32, "patch_size": 8}, "patch_embed", "head"),
], ids=["resnet10t", "vit"])
def test_target_runs_once_per_explain(arch: str, size: int, kw: dict, stem: str, head: str) -> None:
    adapter = tiny_timm(arch, size, **kw)
    ex = build_explainer(adapter, SMALL)
    calls = {"stem": 0, "head": 0}
    adapter.module.get_submodule(stem).register_forward_hook(lambda *a: calls.__setitem__("stem", calls["stem"] + 1))
    adapter.module.get_submodule(head).register_forward_hook(lambda *a: calls.__setitem__("head", calls["head"] + 1))
    with torch.no_grad():
        ex.explain(torch.randn(2, 3, size, size))
    assert calls == {"stem": 1, "head": 1}


class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean((2, 3)))


def _torchscript_target(tmp_path) -> TorchScriptAdapter:
    path = tmp_path / "tiny.pt"
    torch.jit.script(_TinyNet().eval()).save(str(path))
    pre = Preprocessing(input_size=(32, 32), grayscale=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    return TorchScriptAdapter(torch.jit.load(str(path)), path, pre, ["a", "b", "c"])


def test_torchscript_target_needs_a_timm_backbone(tmp_path) -> None:
    target = _torchscript_target(tmp_path)
    with pytest.raises(ConfigError, match="no intermediate features"):
        build_explainer(target, SMALL)
    backbone = tiny_timm("resnet10t", 32)
    cfg = ExplainerConfig(backbone="timm:resnet10t", backbone_weights="unused.safetensors",
                          stage_channels=16, fusion_channels=8, head_channels=4, embed_dim=8)
    ex = build_explainer(target, cfg, backbone=backbone)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        maps, logits = ex.explain(x)
        expected = target.logits(x)
    assert maps.shape == (2, 32, 32) and ex.config.num_classes == 3
    torch.testing.assert_close(logits, expected)  # logits are the TARGET's, not the backbone's
    assert ex.decoder.feature_channels == [64, 128, 256, 512]


def test_backbone_input_is_renormalised(tmp_path) -> None:
    target = _torchscript_target(tmp_path)
    backbone = tiny_timm("resnet10t", 32)
    cfg = ExplainerConfig(backbone="timm:resnet10t", backbone_weights="w", stage_channels=8,
                          fusion_channels=8, head_channels=4, embed_dim=4)
    ex = build_explainer(target, cfg, backbone=backbone)
    x = torch.zeros(1, 1, 32, 32)  # grey 0.5 in the target's normalisation
    xb = ex._to_backbone_input(x)
    mean = torch.tensor(backbone.preprocessing.mean).view(1, 3, 1, 1)
    std = torch.tensor(backbone.preprocessing.std).view(1, 3, 1, 1)
    assert xb.shape == (1, 3, 32, 32)
    torch.testing.assert_close(xb, ((0.5 - mean) / std).expand(1, 3, 32, 32))


def test_config_round_trip_and_validation() -> None:
    cfg = ExplainerConfig(feature_indices=[1, 2, 3, 4], input_size=(48, 64), num_classes=7)
    again = ExplainerConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.input_size == (48, 64)
    assert ExplainerConfig.paper().stage_channels == 256 and ExplainerConfig.paper().fusion_channels == 128
    with pytest.raises(ConfigError, match="explainer config: unknown settings stage_chanels. Known: backbone"):
        ExplainerConfig.from_dict({"stage_chanels": 3})
    with pytest.raises(ConfigError, match="backbone"):
        ExplainerConfig(backbone="resnet18")
    with pytest.raises(ConfigError, match="fusion_channels"):
        ExplainerConfig(fusion_channels=0)


def test_explainer_is_an_explainer_over_the_adapter() -> None:
    adapter = tiny_timm("resnet10t", 32)
    ex = build_explainer(adapter, SMALL)
    assert isinstance(ex, Explainer) and isinstance(ex.model, ModelAdapter) and ex.backbone is None
    assert ex.to("cpu") is ex and ex.device == torch.device("cpu")


def test_default_decoder_is_cheap_next_to_the_demo_cnn() -> None:
    """Guard on the default widths: at 224x224 the decoder adds at most 0.6x the FLOPs of the demo
    CNN's architecture (timed on one CPU thread an explain call is ~1.1-1.4x a forward pass:
    benchmarks/explainer_cost.py)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    adapter = TimmAdapter(model, "tf_efficientnet_lite0", Preprocessing(), [str(i) for i in range(1000)], "fp")
    ex = build_explainer(adapter)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        logits, feats = ex.features(x)
        with FlopCounterMode(display=False) as target_flops:
            adapter.logits(x)
        with FlopCounterMode(display=False) as decoder_flops:
            ex.decoder(feats, logits.argmax(-1), (224, 224))
    ratio = decoder_flops.get_total_flops() / target_flops.get_total_flops()
    assert 0.1 < ratio <= 0.6, ratio


def test_image_skip_lets_pixels_inside_a_patch_move_the_map() -> None:
    # A ViT with 8-px patches: without the skip, the decoder only sees patch tokens, so a change
    # confined to the input image (features held fixed) cannot reach the map; with it, it does.
    adapter = tiny_timm("vit_tiny_patch16_224", 32, img_size=32, patch_size=8)
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[:, :, 5, 5] += 3.0
    for skip in (False, True):
        torch.manual_seed(0)
        ex = build_explainer(adapter, ExplainerConfig(**{**SMALL.to_dict(), "image_skip": skip}))
        feats = ex.features(x)[1]
        t = torch.tensor([1])
        with torch.no_grad():
            a = ex.decoder(feats, t, (32, 32), x)
            b = ex.decoder(feats, t, (32, 32), y)
        assert bool((a - b).abs().max() > 1e-6) == skip
    with pytest.raises(ValueError, match="needs the input image"):
        ex.decoder(feats, t, (32, 32))


def _classifier_explainer(model: TimmAdapter) -> Explainer:
    cfg = ExplainerConfig(stage_channels=16, fusion_channels=8, head_channels=4, embed_dim=8, class_source="classifier")
    return build_explainer(model, cfg)


def test_classifier_class_source_embeds_a_class_by_its_classifier_row() -> None:
    """With the table zeroed, two classes differ in their maps exactly when the model's classifier
    rows for them differ: an unseen class is placed by what the model itself reads for it."""
    model = tiny_timm("resnet10t", 32, classes=4)
    head = model.module.get_classifier()
    with torch.no_grad():
        head.weight[2] = head.weight[1]  # classes 1 and 2 read the same features
    ex = _classifier_explainer(model)
    with torch.no_grad():
        ex.decoder.class_embed.weight.zero_()
        nn.init.normal_(ex.decoder.class_proj.weight)
        x = torch.randn(1, 3, 32, 32)
        m = [ex.explain(x, c)[0] for c in range(4)]
    assert torch.allclose(m[1], m[2])
    assert float((m[1] - m[3]).abs().max()) > 1e-3
    rows = ex.decoder.class_rows
    assert rows.pow(2).mean(1).tolist() == pytest.approx([1.0] * 4, rel=1e-4)  # unit RMS per class


def test_a_table_explainer_gains_the_classifier_projection_without_changing_its_maps() -> None:
    from l2r_core.explainer.explainer import with_extensions

    model = tiny_timm("resnet10t", 32, classes=4)
    table = build_explainer(model, SMALL)
    moved = with_extensions(table, class_source="classifier")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(moved.explain(x, [0, 3])[0], table.explain(x, [0, 3])[0])
    names = {n for n, p in moved.decoder.named_parameters() if p.requires_grad}
    assert {"class_proj.weight", "class_proj.bias"} <= names and moved.config.class_source == "classifier"


def test_classifier_class_source_needs_a_visible_linear_head(tmp_path) -> None:
    target = _torchscript_target(tmp_path)
    backbone = tiny_timm("resnet10t", 32)
    cfg = ExplainerConfig(backbone="timm:resnet10t", backbone_weights="unused.safetensors", stage_channels=16,
                          fusion_channels=8, head_channels=4, embed_dim=8, class_source="classifier")
    with pytest.raises(ConfigError, match="class_source 'table'"):
        build_explainer(target, cfg, backbone=backbone)
    with pytest.raises(ConfigError, match="class_source"):
        ExplainerConfig(class_source="words")


EVIDENCE = ExplainerConfig(stage_channels=16, fusion_channels=8, head_channels=4, embed_dim=8,
                           class_source="classifier", class_evidence=True)


def test_the_evidence_map_is_the_class_activation_map_that_the_head_averages() -> None:
    """Pooling then the linear head equals averaging the evidence map, so its mean (before
    standardising) is the class's logit minus the bias: checked against the model's own logits."""
    model = tiny_timm("resnet10t", 96, classes=4)
    ex = build_explainer(model, EVIDENCE)
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        logits, feats = ex.features(x)
        pooled = feats[-1]
        head = model.module.get_classifier()
        assert pooled.shape[1] == head.in_features == ex.decoder.feature_channels[-1]
        raw = torch.einsum("bchw,kc->bkhw", pooled, head.weight).mean((2, 3)) + head.bias
        assert torch.allclose(raw, logits, atol=1e-4)
        ev = ex.decoder.evidence_map(pooled, torch.tensor([0, 1, 3]))
    assert ev.shape == (3, *pooled.shape[-2:])
    assert ev.flatten(1).mean(1).abs().max() < 1e-5
    assert ev.flatten(1).std(1, correction=0).tolist() == pytest.approx([1.0] * 3, abs=1e-4)


def _z(m: torch.Tensor) -> torch.Tensor:
    return (m - m.mean((1, 2), keepdim=True)) / m.std((1, 2), keepdim=True)


def test_a_fresh_evidence_explainer_ranks_like_its_evidence_map_and_the_class_changes_it() -> None:
    model = tiny_timm("resnet10t", 64, classes=4)
    ex = build_explainer(model, EVIDENCE)
    with torch.no_grad():  # the decoder's own map switched off: the output is the evidence map alone
        ex.decoder.head_out.weight.zero_()
        ex.decoder.head_out.bias.zero_()
        x = torch.randn(2, 3, 64, 64)
        maps, _ = ex.explain(x, [1, 2])
        pooled = ex.features(x)[1][-1]
        ev = ex.decoder.evidence_map(pooled, torch.tensor([1, 2]))
        up = torch.nn.functional.interpolate(ev[:, None], size=(64, 64), mode="bilinear", align_corners=False)[:, 0]
        assert torch.allclose(_z(maps), _z(up), atol=1e-4)  # the same map, up to scale
        other, _ = ex.explain(x, [3, 3])
    assert float((_z(other) - _z(maps)).abs().max()) > 1e-2  # another class, another map
    trainable = {n for n, p in ex.decoder.named_parameters() if p.requires_grad}
    assert {"evidence_in.weight", "evidence_log_gain"} <= trainable


def test_a_trained_explainer_gains_the_evidence_map_and_keeps_its_weights(tmp_path) -> None:
    from l2r_core.explainer import load_explainer, save_explainer
    from l2r_core.explainer.explainer import with_extensions

    model = tiny_timm("resnet10t", 64, classes=4)
    table = build_explainer(model, SMALL)
    ev = with_extensions(table, class_source="classifier", class_evidence=True)
    assert ev.config.class_evidence and len(ev.decoder.feature_channels) == len(table.decoder.feature_channels) + 1
    old, new = table.decoder.state_dict(), ev.decoder.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        own = table.explain(x, [0, 1])[0]
        ev.decoder.evidence_log_gain.fill_(-2.0)  # evidence weighted out (gain e^-40): the old map is left
        assert torch.allclose(ev.explain(x, [0, 1])[0], own, atol=1e-5)
        ev.decoder.evidence_log_gain.fill_(0.5)
        save_explainer(ev, tmp_path / "ev")
        back = load_explainer(tmp_path / "ev", model)
        assert back.config.class_evidence and torch.allclose(back.explain(x, [0, 1])[0], ev.explain(x, [0, 1])[0])
    with pytest.raises(ConfigError, match="cannot change"):
        with_extensions(ev, class_evidence=False)


def test_class_evidence_is_refused_where_it_cannot_work() -> None:
    with pytest.raises(ConfigError, match="class_evidence needs class_source 'classifier'"):
        ExplainerConfig(class_evidence=True)
    vit = tiny_timm("vit_tiny_patch16_224", 32, classes=4, img_size=32, patch_size=8)
    with pytest.raises(ConfigError, match="pools an NCHW map"):
        build_explainer(vit, EVIDENCE)
