"""The model card: validation messages, precedence (flags > card > defaults), round trips."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from l2r_core import ConfigError, ModelCard, load_model, read_card, write_card
from l2r_core.models.loading import card_for

NAMES = ["ant", "bee", "cow"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import timm

    torch.manual_seed(0)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=len(NAMES))
    path = tmp_path_factory.mktemp("card") / "model.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("key,value,expect", [
    ("input_size", "big", "Give N or HxW"),
    ("input_size", 4, "between 8 and 4096"),
    ("resize", "fit", "crop, squash, pad"),
    ("crop_pct", 1.5, "in (0, 1]"),
    ("mean", [0.1, 0.2], "1 value (all channels) or 3 values"),
    ("std", 0, "above 0"),
    ("interpolation", "cubic", "bilinear, bicubic"),
    ("channels", 2, "1 (greyscale) or 3 (RGB)"),
    ("class_names", "missing.txt", "does not exist"),
    ("model_args", [1, 2], "object of architecture arguments"),
])
def test_each_wrong_key_gets_its_own_message(tmp_path: Path, key: str, value: object, expect: str) -> None:
    card = tmp_path / "model.json"
    card.write_text(json.dumps({key: value}))
    with pytest.raises(ConfigError) as info:
        read_card(card)
    msg = str(info.value)
    assert str(card) in msg and f"'{key}'" in msg and expect in msg and "\n" not in msg


def test_unknown_keys_and_broken_json_are_named(tmp_path: Path) -> None:
    card = tmp_path / "model.json"
    card.write_text(json.dumps({"input_szie": 32}))
    with pytest.raises(ConfigError, match=r"unknown key 'input_szie'. Valid keys: model, input_size"):
        read_card(card)
    card.write_text("{not json")
    with pytest.raises(ConfigError, match="not a valid JSON model card"):
        read_card(card)


def test_flags_override_the_card_which_overrides_the_defaults(weights: Path, tmp_path: Path) -> None:
    default = load_model("timm:resnet10t", weights=weights).preprocessing
    names = weights.parent / "names.txt"
    names.write_text("\n".join(NAMES))
    write_card(ModelCard(input_size=(40, 40), mean=(0.5,), std=(0.25,), class_names=tuple(NAMES)),
               weights.with_suffix(".json"))
    try:
        carded = load_model("timm:resnet10t", weights=weights)
        assert carded.preprocessing.input_size == (40, 40) and carded.preprocessing.mean == (0.5, 0.5, 0.5)
        assert carded.preprocessing.resize == default.resize and carded.class_names == NAMES
        flagged = load_model("timm:resnet10t", weights=weights, input_size="36x44", resize="pad")
        assert flagged.preprocessing.input_size == (36, 44) and flagged.preprocessing.resize == "pad"
        assert flagged.preprocessing.std == (0.25, 0.25, 0.25)  # still the card's
    finally:
        weights.with_suffix(".json").unlink()
    assert load_model("timm:resnet10t", weights=weights).preprocessing == default


def test_wrong_count_of_class_names_and_unknown_options(weights: Path) -> None:
    with pytest.raises(ConfigError, match="2 class names for a model with 3 outputs"):
        load_model("timm:resnet10t", weights=weights, class_names=["a", "b"])
    with pytest.raises(ConfigError, match="unknown option 'crop'. Valid options: input_size, resize"):
        load_model("timm:resnet10t", weights=weights, crop=0.9)


def test_card_of_a_loaded_model_reloads_to_the_same_model(weights: Path, tmp_path: Path) -> None:
    model = load_model("timm:resnet10t", weights=weights, input_size=48, resize="squash", mean=0.4, std=0.2,
                       class_names=NAMES)
    path = write_card(card_for(model, "timm:resnet10t"), tmp_path / "card.json")
    card = read_card(path)
    assert card.model == "timm:resnet10t" and card.class_names == tuple(NAMES)
    again = load_model("timm:resnet10t", weights=weights, card=path)
    assert again.preprocessing == model.preprocessing and again.class_names == model.class_names
    assert not list(tmp_path.glob(".*"))  # no temp file left behind
