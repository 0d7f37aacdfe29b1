"""`l2r compare`: paired differences read from `l2r evaluate --json` files, and bad input in one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from l2r_training.cli import main

from ..core.test_onnx_export import SIZE, make_tiny_model


def _doc(rows: dict[str, dict[str, tuple[float, float]]], protocol: str = "aha", model: str = "m1") -> dict:
    return {"protocol": {"name": protocol}, "model": {"fingerprint": model},
            "results": [{"image": image, "method": method, "deletion_auc": d, "insertion_auc": i}
                        for method, scores in rows.items() for image, (d, i) in scores.items()]}


def _write(path: Path, doc: dict) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def test_evaluate_then_compare_reports_the_paired_means(tmp_path, capsys) -> None:
    weights = make_tiny_model(tmp_path / "model")
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(images / f"{i}.png")
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out, methods in ((first, "gradcam"), (second, "ig,rise")):
        assert main(["evaluate", str(images), "--model", "timm:resnet10t", "--weights", str(weights),
                     "--methods", methods, "--option", "rise.n_masks=20", "--option", "ig.steps=4",
                     "--json", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    report = tmp_path / "cmp.json"
    assert main(["compare", str(first), str(second), "--reference", "gradcam", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "ig" in printed and "rise" in printed and "b.json" in printed
    rows = json.loads(first.read_text())["results"] + json.loads(second.read_text())["results"]
    score = {(r["method"], r["image"]): r for r in rows}
    doc = json.loads(report.read_text())
    assert doc["reference"] == "gradcam" and set(doc["methods"]) == {"ig", "rise"}
    for method in ("ig", "rise"):
        for key in ("deletion_auc", "insertion_auc"):
            diffs = [score[(method, f"images/{i}.png")][key] - score[("gradcam", f"images/{i}.png")][key]
                     for i in range(3)]
            got = doc["methods"][method][key]
            assert got["images"] == 3 and got["mean"] == pytest.approx(np.mean(diffs))
            assert got["low"] <= got["mean"] <= got["high"]


def test_a_method_in_two_files_is_taken_from_the_last(tmp_path, capsys) -> None:
    old = _write(tmp_path / "old.json", _doc({"l2r": {"a": (0.5, 0.1), "b": (0.5, 0.1)},
                                              "gradcam": {"a": (0.2, 0.4), "b": (0.3, 0.5)}}))
    new = _write(tmp_path / "new.json", _doc({"l2r": {"a": (0.1, 0.5), "b": (0.2, 0.6)}}))
    out = tmp_path / "cmp.json"
    assert main(["compare", old, new, "--reference", "gradcam", "--json", str(out)]) == 0
    got = json.loads(out.read_text())["methods"]["l2r"]
    assert got["file"] == "new.json"
    assert got["deletion_auc"]["mean"] == pytest.approx(-0.1) and got["deletion_auc"]["wins"] == 2
    assert got["insertion_auc"]["mean"] == pytest.approx(0.1) and got["insertion_auc"]["verdict"] == "better"


def test_match_by_name_pairs_results_scored_from_differently_named_folders(tmp_path, capsys) -> None:
    base = _write(tmp_path / "base.json", _doc({"gradcam": {"fm500/a.png": (0.2, 0.4), "fm500/b.png": (0.3, 0.4)}}))
    other = _write(tmp_path / "other.json", _doc({"l2r": {"test500/a.png": (0.1, 0.5), "test500/b.png": (0.2, 0.6)}}))
    assert main(["compare", base, other, "--reference", "gradcam"]) == 2
    assert "--match name" in capsys.readouterr().err
    out = tmp_path / "cmp.json"
    assert main(["compare", base, other, "--reference", "gradcam", "--match", "name", "--json", str(out)]) == 0
    got = json.loads(out.read_text())["methods"]["l2r"]
    assert got["deletion_auc"]["images"] == 2 and got["insertion_auc"]["mean"] == pytest.approx(0.15)
    twice = _write(tmp_path / "twice.json", _doc({"l2r": {"x/a.png": (0.1, 0.5), "y/a.png": (0.2, 0.6)}}))
    assert main(["compare", base, twice, "--reference", "gradcam", "--match", "name"]) == 2
    assert "two l2r results for images named a.png" in capsys.readouterr().err


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"),
    ("not_json", "not readable as JSON"),
    ("not_result", "not a result of `l2r evaluate --json`"),
    ("protocols", "under protocol 'openvino'"),
    ("models", "scored another model"),
    ("reference", "--reference gradcam: no scores for it"),
    ("disjoint", "share no image"),
])
def test_bad_input_ends_in_one_line_naming_the_file(tmp_path, capsys, case, message) -> None:
    base = _write(tmp_path / "base.json", _doc({"gradcam": {"a": (0.2, 0.4)}, "l2r": {"a": (0.1, 0.5)}}))
    other = {
        "missing": str(tmp_path / "gone.json"),
        "not_json": str(tmp_path / "bad.json"),
        "not_result": _write(tmp_path / "list.json", {"rows": []}),
        "protocols": _write(tmp_path / "p.json", _doc({"rise": {"a": (0.1, 0.5)}}, protocol="openvino")),
        "models": _write(tmp_path / "m.json", _doc({"rise": {"a": (0.1, 0.5)}}, model="m2")),
        "reference": _write(tmp_path / "r.json", _doc({"rise": {"a": (0.1, 0.5)}})),
        "disjoint": _write(tmp_path / "d.json", _doc({"rise": {"z": (0.1, 0.5)}})),
    }[case]
    (tmp_path / "bad.json").write_text("{not json")
    files = [other] if case == "reference" else [base, other]
    assert main(["compare", *files, "--reference", "gradcam"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    if case not in ("reference", "disjoint"):
        assert Path(other).name in err
