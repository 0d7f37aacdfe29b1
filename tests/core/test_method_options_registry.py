"""Declared method options (the GUI's options panel is built from them): real keywords of the
method, defaults in step with ``MethodInfo.defaults``, and Grad-CAM's layer list."""
from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import l2r_core  # noqa: F401 - registers every method
from l2r_core.attribution import attribute
from l2r_core.attribution.layers import _probe_last_spatial, candidate_layers, find_target_layer
from l2r_core.attribution.registry import (OptionSpec, available_methods, get_method, list_methods,
                                           register_method, unavailable_reason)
from l2r_core.models.loading import load_model

from .fixtures_models import hand_cnn, module_model, tiny_cnn, tiny_vit

DECLARED = {"ig": {"steps", "baseline"}, "rise": {"n_masks", "cell_size"}, "gradcam": {"layer"},
            "l2r-refine": {"steps", "reference", "relaxation"}}


@pytest.mark.parametrize("info", list_methods(), ids=lambda m: m.name)
def test_declared_options_are_keywords_of_the_method_with_its_defaults(info) -> None:  # type: ignore[no-untyped-def]
    params = inspect.signature(info.fn).parameters
    for spec in info.options:
        assert spec.name in info.option_names, f"{info.name}: {spec.name} is not a keyword option"
        assert params[spec.name].default == spec.default, f"{info.name}.{spec.name}: signature default differs"
        assert info.defaults[spec.name] == spec.default
        if spec.kind == "int":
            assert spec.minimum is not None and spec.maximum is not None
            assert spec.minimum <= spec.default <= spec.maximum
        if spec.kind == "choice":
            assert spec.default in spec.choices
    for name, value in info.defaults.items():  # undeclared defaults match the signature too
        assert params[name].default == value, f"{info.name}.{name}"


def test_the_issue_s_options_are_declared() -> None:
    for name, wanted in DECLARED.items():
        assert {s.name for s in get_method(name).options} == wanted
    ig = get_method("ig")
    assert ig.option("steps").minimum == 1 and ig.option("steps").maximum == 512
    assert set(ig.option("baseline").choices) == {"mean", "black", "blur"}
    rise = get_method("rise")
    assert (rise.option("n_masks").minimum, rise.option("n_masks").maximum) == (10, 20000)
    assert (rise.option("cell_size").minimum, rise.option("cell_size").maximum) == (2, 64)
    layer = get_method("gradcam").option("layer")
    assert layer.kind == "layer" and layer.default is None
    assert (get_method("l2r-refine").option("steps").minimum, get_method("l2r-refine").option("steps").maximum) \
        == (1, 100)


def test_every_ig_baseline_choice_runs() -> None:
    model = tiny_cnn(32)
    x = torch.randn(1, 3, 32, 32)
    for baseline in get_method("ig").option("baseline").choices:
        out = attribute("ig", model, x, 0, steps=2, baseline=baseline)
        assert torch.isfinite(out).all()


def test_registering_an_option_the_function_lacks_is_refused() -> None:
    def fn(model, inputs, targets, *, batch_limit, progress, steps: int = 3):  # type: ignore[no-untyped-def]
        return inputs

    with pytest.raises(ValueError, match="not a keyword option"):
        register_method("bogus-test", "Bogus", needs_grad=False, options=(OptionSpec("size", "int", 3, 1, 9),))(fn)
    with pytest.raises(ValueError, match="two defaults"):
        register_method("bogus-test", "Bogus", needs_grad=False, steps=4,
                        options=(OptionSpec("steps", "int", 3, 1, 9),))(fn)
    with pytest.raises(ValueError, match="kind"):
        OptionSpec("steps", "integer", 3)
    assert "bogus-test" not in {m.name for m in list_methods()}


def test_candidate_layers_list_the_layer_gradcam_picks_automatically() -> None:
    cnn = tiny_cnn(64)
    layers = candidate_layers(cnn)
    auto = _probe_last_spatial(cnn.module, torch.zeros(1, 3, 64, 64))  # what feeds timm's global_pool
    assert auto in layers and layers[-1] == auto and "layer1" in layers
    x, t = torch.randn(1, 3, 64, 64), torch.tensor([2])
    torch.testing.assert_close(attribute("gradcam", cnn, x, t, layer=auto), attribute("gradcam", cnn, x, t))
    hand = module_model(hand_cnn(), (12, 12), 3)
    assert candidate_layers(hand) == ["0", "1"]  # conv and ReLU; the 1x1 pooled map is no feature map
    assert find_target_layer(hand, torch.zeros(1, 3, 12, 12)).name == "1"
    vit = tiny_vit(32)
    names = candidate_layers(vit)
    assert find_target_layer(vit, torch.zeros(1, 3, 32, 32)).name in names
    assert names == ["blocks.0.norm1", "blocks.0", "blocks.1.norm1", "blocks.1"]


def test_one_availability_check_for_the_registry_and_its_callers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    path = tmp_path / "m.pt"
    torch.jit.script(net).save(str(path))
    scripted = load_model(str(path))
    assert "TorchScript" in unavailable_reason(get_method("gradcam"), scripted)
    assert candidate_layers(scripted) == []
    assert unavailable_reason(get_method("ig"), scripted) == ""
    assert "vision transformer" in unavailable_reason(get_method("rollout"), scripted)
    assert "explainer" in unavailable_reason(get_method("l2r"), scripted)
    assert unavailable_reason(get_method("l2r"), scripted, object()) == ""
    assert unavailable_reason(get_method("l2r"), scripted, check_explainer=False) == ""
    names = {m.name for m in available_methods(scripted)}
    assert names == {m.name for m in list_methods() if not unavailable_reason(m, scripted, check_explainer=False)}
    assert "l2r" in names and "l2r" not in {m.name for m in available_methods(scripted, check_explainer=True)}
