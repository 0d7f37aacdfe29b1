"""A user's own timm model from flags alone, its model card, and one map everywhere (API, CLI, export)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import l2r_core
from l2r_training.cli import main

ARCH = "vit_tiny_patch16_224"
FLAGS = ["--input-size", "32", "--resize", "pad", "--mean", "0.286", "--std", "0.353"]


@pytest.fixture(scope="module")
def six_block_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ViT-tiny with 6 blocks instead of 12, for 32-px greyscale inputs: the weights say so,
    nothing else does (no card beside them)."""
    import timm

    torch.manual_seed(0)
    net = timm.create_model(ARCH, pretrained=False, depth=6, img_size=32, in_chans=1, num_classes=10)
    path = tmp_path_factory.mktemp("vit") / "w.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def fashion_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """28-px greyscale images, as Fashion-MNIST's."""
    folder = tmp_path_factory.mktemp("fm")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(folder / f"item{i}.png")
    return folder


def test_the_six_block_vit_evaluates_from_flags_alone(six_block_vit: Path, fashion_like: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval.json"
    code = main(["evaluate", str(fashion_like), "--model", f"timm:{ARCH}", "--weights", str(six_block_vit), *FLAGS,
                 "--methods", "gradcam", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert [r["status"] for r in doc["results"]] == ["ok"] * 3
    pre = doc["model"]["preprocessing"]
    assert pre["input_size"] == [32, 32] and pre["resize"] == "pad" and pre["grayscale"]
    assert doc["model"]["model_args"]["depth"] == 6


def test_without_flags_the_mismatch_is_explained(six_block_vit: Path, fashion_like: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", str(fashion_like), "--model", f"timm:{ARCH}", "--weights", str(six_block_vit),
                 "--model-arg", "depth=12", "--methods", "gradcam"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "w.safetensors" in err and "--model-arg depth=6" in err


def test_bad_flags_are_named_before_loading(six_block_vit: Path, fashion_like: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explain", str(next(fashion_like.iterdir())), "--model", f"timm:{ARCH}", "--weights",
                 str(six_block_vit), "--mean", "0.1", "0.2", "--out", "unused"])
    err = capsys.readouterr().err
    assert code == 2 and "command line: 'mean'" in err and "1 value (all channels) or 3 values" in err
    code = main(["explain", "x.png", "--model", f"timm:{ARCH}", "--weights", str(six_block_vit),
                 "--model-arg", "depth", "--out", "unused"])
    assert code == 2 and "--model-arg KEY=VALUE" in capsys.readouterr().err


def test_model_card_then_no_flags_gives_the_same_maps_in_api_cli_and_export(
        six_block_vit: Path, fashion_like: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = six_block_vit.with_suffix(".json")
    assert main(["model-card", "--model", f"timm:{ARCH}", "--weights", str(six_block_vit), *FLAGS,
                 "--out", str(card)]) == 0
    try:
        assert json.loads(card.read_text())["resize"] == "pad"
        image = sorted(fashion_like.iterdir())[0]
        cli_out, export_out = tmp_path / "cli", tmp_path / "export"
        assert main(["explain", str(image), "--model", f"timm:{ARCH}", "--weights", str(six_block_vit),
                     "--method", "gradcam", "--out", str(cli_out)]) == 0
        from l2r_training.cli.export import main as export_main

        assert export_main([str(fashion_like), "--out", str(export_out), "--model", f"timm:{ARCH}", "--weights",
                            str(six_block_vit), "--methods", "gradcam", "--device", "cpu"]) == 0, \
            capsys.readouterr().err
        model = l2r_core.load_model(f"timm:{ARCH}", weights=six_block_vit)  # the card is picked up
        api = l2r_core.explain(model, image, method="gradcam")
        cli_map = np.load(cli_out / f"{image.stem}.npy")
        export_map = np.load(export_out / "maps" / f"{image.name}.gradcam.npy")
        np.testing.assert_array_equal(cli_map, api.map)
        np.testing.assert_array_equal(export_map, api.map)
        cli_png = np.asarray(Image.open(cli_out / f"{image.stem}.png"))
        export_png = np.asarray(Image.open(export_out / "overlays" / f"{image.name}.gradcam.png"))
        np.testing.assert_array_equal(cli_png, np.asarray(api.overlay()))
        np.testing.assert_array_equal(export_png, cli_png)
    finally:
        card.unlink(missing_ok=True)
