"""Every `l2r` entry point against both corpora: bad inputs end as one line (exit 2) or as an error
row, never as a traceback; good inputs give complete outputs; no output folder keeps a temporary or
half-written file. The command lines run in one background process (conftest.cli_calls)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tests.corpus.models import sentinel_path

from .conftest import CliBatch, Corpora
from .ledger import CRASHING_ITEMS, is_crash_output, record, scan_outputs

WARNING_NOISE_ITEMS = ("state_dict_as_torchscript", "text_as_torchscript")  # known bug warning-noise


def _outcome(entry: str, item: str, res: dict[str, Any]) -> None:
    crash = is_crash_output(res["returncode"], res["stderr"])
    last = res["stderr"].strip().splitlines()[-1:] or [""]
    record(entry, item, f"exit {res['returncode']}", crash, last[0])


def _error_line(res: dict[str, Any]) -> str:
    """A refused run: exit 2, no traceback, and its last stderr line is the one-line error."""
    assert "Traceback" not in res["stderr"], res["stderr"][-2000:]
    assert res["returncode"] == 2, (res["returncode"], res["stderr"][-2000:])
    lines = [ln for ln in res["stderr"].splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("l2r: error: "), lines
    assert sum(ln.startswith("l2r: error: ") for ln in lines) == 1, lines
    return lines[-1]


def _noise(res: dict[str, Any]) -> list[str]:
    """stderr lines other than the one-line error (warnings a user should not have to read)."""
    return [ln for ln in res["stderr"].splitlines() if ln.strip() and not ln.startswith("l2r: error: ")]


def _check_map(npy: Path, png: Path) -> None:
    m = np.load(npy)
    assert m.shape == (32, 32) and m.dtype == np.float32 and np.isfinite(m).all(), npy
    with Image.open(png) as img:
        assert img.size == (32, 32)


def test_explain_refuses_every_bad_model_file_in_one_line(cli_batch: CliBatch, corpora: Corpora) -> None:
    failures = []
    for m in corpora.models:
        res = cli_batch.result(f"explain:{m.name}")
        _outcome("cli:explain", m.name, res)
        if m.name in CRASHING_ITEMS:
            continue  # test_vit_weights_as_resnet_are_refused_in_one_line below
        out = cli_batch.out / "explain" / m.name
        try:
            if m.expect_error_substring is None:
                assert res["returncode"] == 0 and "Traceback" not in res["stderr"], res["stderr"][-2000:]
                _check_map(out / "plain.npy", out / "plain.png")
            else:
                line = _error_line(res)
                assert m.expect_error_substring in line and m.path.name in line, line
                assert m.name in WARNING_NOISE_ITEMS or not _noise(res), _noise(res)
                assert not list(out.glob("*.npy")) and not list(out.glob("*.png"))
        except AssertionError as exc:
            failures.append(f"{m.name}: {exc}")
    assert not failures, "\n".join(failures)


def test_vit_weights_as_resnet_are_refused_in_one_line(cli_batch: CliBatch, corpora: Corpora) -> None:
    m = corpora.model("vit_weights_as_resnet")
    line = _error_line(cli_batch.result(f"explain:{m.name}"))
    assert "do not match" in line and m.path.name in line


def test_torchscript_refusals_print_only_the_error_line(cli_batch: CliBatch) -> None:
    for name in WARNING_NOISE_ITEMS:
        assert _noise(cli_batch.result(f"explain:{name}")) == []


def test_evaluate_json_into_a_new_folder(cli_batch: CliBatch, corpora: Corpora) -> None:
    """Either create the folder (as explain/export do with --out) or refuse in one line up front."""
    res = cli_batch.result("evaluate:json_in_missing_folder")
    _outcome("cli:evaluate", "--json in a missing folder", res)
    if res["returncode"] == 0:
        assert json.loads((cli_batch.out / "new_folder" / "evaluate.json").read_text())["results"]
    else:
        assert "new_folder" in _error_line(res)


def test_explain_writes_a_complete_map_for_every_readable_image(cli_batch: CliBatch, corpora: Corpora) -> None:
    res = cli_batch.result("explain:readable_images")
    _outcome("cli:explain", "all readable images", res)
    assert res["returncode"] == 0 and "Traceback" not in res["stderr"], res["stderr"][-2000:]
    out = cli_batch.out / "readable"
    for item in (i for i in corpora.images if i.ok):
        stem = Path(item.name).stem
        _check_map(out / f"{stem}.npy", out / f"{stem}.png")
        assert f"{item.path}:" in res["stdout"]


def test_explain_stops_at_an_unreadable_image_with_one_line(cli_batch: CliBatch, corpora: Corpora) -> None:
    """Documented contract: a user error ends the run with one line (exit 2); what was written
    before it is complete (atomic writes)."""
    res = cli_batch.result("explain:mixed_images")
    _outcome("cli:explain", "readable, truncated, readable", res)
    line = _error_line(res)
    assert not _noise(res)
    assert "truncated.jpg" in line and "damaged or truncated" in line
    out = cli_batch.out / "mixed"
    _check_map(out / "plain.npy", out / "plain.png")
    assert sorted(p.name for p in out.iterdir()) == ["plain.npy", "plain.png"]


def test_evaluate_over_the_image_corpus_gives_a_row_per_image(cli_batch: CliBatch, corpora: Corpora) -> None:
    res = cli_batch.result("evaluate:image_corpus")
    _outcome("cli:evaluate", "image corpus folder", res)
    assert res["returncode"] == 0 and "Traceback" not in res["stderr"], res["stderr"][-2000:]
    doc = json.loads((cli_batch.out / "evaluate.json").read_text())
    rows = {Path(r["image"]).name: r for r in doc["results"]}
    assert set(rows) == {i.name for i in corpora.images}
    for item in corpora.images:
        row = rows[item.name]
        record("cli:evaluate", item.name, row["status"][:40])
        if item.ok:
            assert row["status"] == "ok" and row["method"] == "gradcam", row
            assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["insertion_auc"] <= 1, row
        else:
            assert row["status"].startswith("error: ") and item.name in row["status"], row
            assert "\n" not in row["status"]
    assert doc["summary"][0]["images"] == sum(i.ok for i in corpora.images)
    table = [ln.split() for ln in res["stdout"].splitlines() if ln.startswith("gradcam")]
    assert table and table[0][1] == str(sum(i.ok for i in corpora.images)), res["stdout"]


def test_export_over_the_image_corpus_is_complete_and_clean(cli_batch: CliBatch, corpora: Corpora) -> None:
    from l2r_core.batch.state import read_all_items

    res = cli_batch.result("export:image_corpus")
    _outcome("cli:export", "image corpus folder", res)
    assert res["returncode"] == 0 and "Traceback" not in res["stderr"], res["stderr"][-2000:]
    out = cli_batch.out / "export"
    items = {d["image"]: d for d in read_all_items(out)}
    assert set(items) == {i.name for i in corpora.images}
    for item in corpora.images:
        data = items[item.name]
        record("cli:export", item.name, data["status"][:40])
        if item.ok:
            assert data["status"] == "ok" and math.isfinite(data["deletion_auc"]), data["status"]
            assert np.isfinite(np.load(out / data["map"])).all()
        else:
            assert data["status"].startswith("error: ") and "\n" not in data["status"], data["status"]
    n_bad = sum(not i.ok for i in corpora.images)
    assert f"{n_bad} errors" in res["stderr"]
    csv_lines = (out / "metrics.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(csv_lines) == 1 + len(corpora.images)
    assert scan_outputs(out, "cli:export image corpus") == []


def test_train_on_the_image_corpus_skips_unreadable_images(cli_batch: CliBatch, corpora: Corpora) -> None:
    from l2r_core.explainer import load_explainer
    from l2r_core.models.loading import load_model

    res = cli_batch.result("train:image_corpus")
    _outcome("cli:train", "image corpus folder", res)
    assert res["returncode"] == 0 and "Traceback" not in res["stderr"], res["stderr"][-2000:]
    assert "skipped unreadable" in res["stderr"]
    out = cli_batch.out / "train"
    model = load_model("timm:resnet10t", weights=corpora.good.path)
    explainer = load_explainer(out / "explainer", model)
    assert json.loads((out / "explainer" / "explainer.json").read_text())["extra"]["steps"] == 2
    assert explainer.decoder is not None
    assert scan_outputs(out, "cli:train image corpus") == []


def test_no_cli_run_left_a_temporary_or_half_written_file(cli_batch: CliBatch, corpora: Corpora) -> None:
    cli_batch.wait()
    assert scan_outputs(cli_batch.out, "all CLI outputs") == []
    assert not sentinel_path(corpora.models_dir).exists(), "a hostile pickle ran code"
