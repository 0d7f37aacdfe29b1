"""`l2r evaluate --json`: every result names the explainer that made it."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from l2r_core.explainer import explainer_fingerprint, load_explainer
from l2r_core.models import load_model
from l2r_training.cli import main

from ..core.test_onnx_export import SIZE, make_explainer_dir, make_tiny_model


def test_json_records_the_explainer_fingerprint_in_every_result(tmp_path, capsys) -> None:
    weights = make_tiny_model(tmp_path / "model")
    explainer = make_explainer_dir(weights, tmp_path / "explainer")
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(images / f"{i}.png")
    out = tmp_path / "eval.json"
    code = main(["evaluate", str(images), "--model", "timm:resnet10t", "--weights", str(weights),
                 "--explainer", str(explainer), "--methods", "l2r,gradcam", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    expected = explainer_fingerprint(load_explainer(explainer, load_model("timm:resnet10t", weights=weights)))
    assert doc["explainer"]["fingerprint"] == expected and doc["explainer"]["kind"] == "torch"
    rows = doc["results"]
    assert {r["method"] for r in rows} == {"l2r", "gradcam"} and len(rows) == 4
    assert all(r["explainer"] == expected for r in rows if r["method"] == "l2r")
    assert all(r["explainer"] is None for r in rows if r["method"] == "gradcam")


def test_json_holds_no_absolute_path_of_this_machine(tmp_path, capsys) -> None:
    weights = make_tiny_model(tmp_path / "model")
    images = tmp_path / "photos"
    images.mkdir()
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(images / "a.png")
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(images), "--model", "timm:resnet10t", "--weights", str(weights),
                 "--methods", "gradcam", "--json", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert str(tmp_path) not in text and '"/' not in text
    doc = json.loads(text)
    assert doc["results"][0]["image"] == "photos/a.png"
    assert doc["model"]["source"].endswith("model.safetensors")
