"""Weight averaging of explainers: the exact mean, the maps it gives, and what cannot be averaged."""
from __future__ import annotations

import json

import pytest
import torch

from l2r_core.errors import ConfigError, ModelLoadError
from l2r_core.explainer import ExplainerConfig, build_explainer, explainer_fingerprint, load_explainer, save_explainer
from l2r_core.explainer.averaging import average_explainers, average_weights

from .test_explainer_io import SMALL, adapter_from_state, resnet_state  # noqa: F401  (fixture)


def _perturbed(model, seed: int, config: ExplainerConfig = SMALL):
    ex = build_explainer(model, config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ex.decoder.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return ex


@pytest.fixture()
def three(resnet_state, tmp_path):  # noqa: F811
    model = adapter_from_state("resnet10t", resnet_state)
    explainers = [_perturbed(model, seed) for seed in range(3)]
    for i, ex in enumerate(explainers):
        save_explainer(ex, tmp_path / f"step_{i}", extra={"training_step": 100 * i})
    return model, explainers


def test_average_is_the_element_wise_mean(three, tmp_path) -> None:
    model, explainers = three
    out = average_explainers([tmp_path / f"step_{i}" for i in range(3)], tmp_path / "avg")
    averaged = load_explainer(out.parent, model)
    states = [ex.decoder.state_dict() for ex in explainers]
    for name, value in averaged.decoder.state_dict().items():
        expected = (states[0][name].double() + states[1][name].double() + states[2][name].double()) / 3
        assert torch.allclose(value.double(), expected, atol=1e-6), name
    meta = json.loads(out.read_text())
    assert meta["decoder_fingerprint"] == explainer_fingerprint(averaged)
    assert [s["extra"]["training_step"] for s in meta["extra"]["averaged_from"]] == [0, 100, 200]
    assert [s["decoder_fingerprint"] for s in meta["extra"]["averaged_from"]] == \
        [explainer_fingerprint(ex) for ex in explainers]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():  # a different decoder from every source: its maps differ from each one's
        maps = averaged.explain(x, [0, 1])[0]
        for ex in explainers:
            assert not torch.allclose(maps, ex.explain(x, [0, 1])[0])


def test_averaging_one_explainer_with_itself_changes_nothing(three, tmp_path) -> None:
    model, explainers = three
    out = average_explainers([tmp_path / "step_1", tmp_path / "step_1" / "explainer.json"], tmp_path / "same")
    assert explainer_fingerprint(load_explainer(out.parent, model)) == explainer_fingerprint(explainers[1])


def test_average_weights_keeps_dtypes_and_integer_buffers() -> None:
    a = {"w": torch.tensor([1.0, 2.0], dtype=torch.float16), "n": torch.tensor([5])}
    b = {"w": torch.tensor([3.0, 4.0], dtype=torch.float16), "n": torch.tensor([5])}
    mean = average_weights([a, b])
    assert mean["w"].dtype == torch.float16 and mean["w"].tolist() == [2.0, 3.0]
    assert mean["n"].tolist() == [5]


def test_explainers_of_another_architecture_are_refused_by_name(three, resnet_state, tmp_path) -> None:  # noqa: F811
    model, _ = three
    wider = _perturbed(model, 5, ExplainerConfig(stage_channels=24, fusion_channels=8, head_channels=4, embed_dim=8))
    save_explainer(wider, tmp_path / "wider")
    with pytest.raises(ConfigError, match=r"wider: cannot be averaged with .*step_0: their config"):
        average_explainers([tmp_path / "step_0", tmp_path / "wider"], tmp_path / "avg")
    assert not (tmp_path / "avg").exists()


def test_explainers_of_another_model_are_refused(three, resnet_state, tmp_path) -> None:  # noqa: F811
    other_state = {k: v + 0.01 if v.is_floating_point() else v for k, v in resnet_state.items()}
    other = _perturbed(adapter_from_state("resnet10t", other_state), 0)
    save_explainer(other, tmp_path / "other")
    with pytest.raises(ConfigError, match="their target differ"):
        average_explainers([tmp_path / "step_0", tmp_path / "other"], tmp_path / "avg")


def test_a_damaged_weights_file_is_named(three, tmp_path) -> None:
    (tmp_path / "step_2" / "explainer.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelLoadError, match="step_2/explainer.safetensors: damaged"):
        average_explainers([tmp_path / "step_0", tmp_path / "step_2"], tmp_path / "avg")


def test_swapped_weights_are_refused(three, tmp_path) -> None:
    swapped = tmp_path / "step_0" / "explainer.safetensors"
    swapped.write_bytes((tmp_path / "step_1" / "explainer.safetensors").read_bytes())
    with pytest.raises(ModelLoadError, match="step_0/explainer.safetensors: the weights do not match"):
        average_explainers([tmp_path / "step_0", tmp_path / "step_2"], tmp_path / "avg")
