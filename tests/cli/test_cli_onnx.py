"""`l2r export-onnx`: a checked, parity-verified file on success; exit 2 and one line otherwise."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from l2r_core.models import load_model
from l2r_core.explainer import load_explainer
from l2r_core.onnx.explainer import fused_explainer
from l2r_core.onnx import read_metadata
from l2r_training.cli import main

from ..core.test_onnx_export import NAMES, SIZE, make_explainer_dir, make_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_onnx")
    weights = make_tiny_model(root / "model")
    return {"root": root, "weights": weights, "explainer": make_explainer_dir(weights, root / "explainer")}


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["export-onnx", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("l2r: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _model_args(tiny: dict) -> list[str]:
    return ["--model", "timm:resnet10t", "--weights", str(tiny["weights"])]


def test_export_fused_and_explainer_only(tiny, tmp_path, capsys) -> None:
    fused = tmp_path / "out" / "fused.onnx"
    code, out, err = _run(capsys, *_model_args(tiny), "--explainer", str(tiny["explainer"]), "--out", str(fused),
                          "--fused")
    assert code == 0, err
    assert "onnx.checker ok" in out and "(fused," in out and fused.is_file()
    assert read_metadata(str(fused)).kind == "fused"
    adapter = load_model(str(fused))
    assert adapter.class_names == NAMES and adapter.preprocessing.input_size == (SIZE, SIZE)
    maps, _ = fused_explainer(adapter).explain(torch.zeros(1, 3, SIZE, SIZE))
    assert maps.shape == (1, SIZE, SIZE)
    alone = tmp_path / "alone.onnx"
    code, out, err = _run(capsys, *_model_args(tiny), "--explainer", str(tiny["explainer"]), "--out", str(alone))
    assert code == 0 and "(explainer," in out
    model = load_model("timm:resnet10t", weights=tiny["weights"])
    assert load_explainer(alone, model).explain(torch.zeros(2, 3, SIZE, SIZE), [0, 1])[0].shape == (2, SIZE, SIZE)


def test_missing_explainer_is_one_line(tiny, tmp_path, capsys) -> None:
    code, _, err = _run(capsys, *_model_args(tiny), "--out", str(tmp_path / "x.onnx"))
    assert code == 2 and "--explainer" in _one_line_error(err)
    code, _, err = _run(capsys, *_model_args(tiny), "--explainer", str(tmp_path / "nowhere"),
                        "--out", str(tmp_path / "x.onnx"))
    assert code == 2 and "nowhere" in _one_line_error(err)
    assert not (tmp_path / "x.onnx").exists()


def test_explainer_for_another_model_is_refused(tiny, tmp_path, capsys) -> None:
    other = make_tiny_model(tmp_path / "other", seed=5)
    code, _, err = _run(capsys, "--model", "timm:resnet10t", "--weights", str(other),
                        "--explainer", str(tiny["explainer"]), "--out", str(tmp_path / "x.onnx"))
    line = _one_line_error(err)
    assert code == 2 and "was trained for" in line and "fingerprint" in line
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("extra, needle", [
    (("--out", "model.bin"), "must end in .onnx"),
    (("--out", "x.onnx", "--opset", "13"), "opset 13"),
    (("--out", "x.onnx", "--explainer", "e.onnx"), "already an ONNX file"),
])
def test_bad_options_are_one_line(tiny, tmp_path, capsys, extra, needle) -> None:
    args = list(extra)
    if "--explainer" not in args:
        args += ["--explainer", str(tiny["explainer"])]
    args = [str(tmp_path / a) if a.endswith((".bin", ".onnx")) and not a.startswith("-") else a for a in args]
    code, _, err = _run(capsys, *_model_args(tiny), *args)
    assert code == 2 and needle in _one_line_error(err)


def test_onnx_model_is_refused_as_source(tiny, tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "--model", str(tmp_path / "m.onnx"), "--explainer", str(tiny["explainer"]),
                        "--out", str(tmp_path / "x.onnx"))
    assert code == 2 and "already ONNX" in _one_line_error(err)


def test_l2r_method_uses_the_fused_map(tiny, tmp_path) -> None:
    """The registered `l2r` method on a fused ONNX model returns the map computed inside the file,
    whether the explainer is passed or not (a fused model explains itself)."""
    from l2r_core.attribution.registry import attribute
    from l2r_core.explainer import load_explainer
    from l2r_core.onnx import export_onnx

    model = load_model("timm:resnet10t", weights=tiny["weights"])
    ex = load_explainer(tiny["explainer"], model)
    path = export_onnx(ex, tmp_path / "f.onnx", fused=True).path
    adapter = load_model(str(path))
    x = torch.randn(1, 3, SIZE, SIZE)
    top = int(adapter.logits(x).argmax())
    with torch.no_grad():
        want, _ = ex.explain(x, [top])
    for opts in ({"explainer": fused_explainer(adapter)}, {}):
        got = attribute("l2r", adapter, x, [top], **opts)
        assert float((got - want).abs().max()) < 1e-4


def test_cli_explain_with_fused_onnx_model(tiny, tmp_path, capsys) -> None:
    from PIL import Image

    from l2r_core.explainer import load_explainer
    from l2r_core.onnx import export_onnx

    model = load_model("timm:resnet10t", weights=tiny["weights"])
    ex = load_explainer(tiny["explainer"], model)
    path = export_onnx(ex, tmp_path / "f.onnx", fused=True).path
    img = tmp_path / "img.png"
    Image.fromarray((torch.rand(SIZE, SIZE, 3) * 255).byte().numpy()).save(img)
    code = main(["explain", str(img), "--model", str(path), "--method", "l2r", "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    import numpy as np

    got = np.load(tmp_path / "out" / "img.npy")
    x = model.preprocessing(Image.open(img))[None]
    with torch.no_grad():
        want, _ = ex.explain(x)
    assert float(np.abs(got - want[0].numpy()).max()) < 1e-4
