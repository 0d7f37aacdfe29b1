"""`l2r export`: exit codes, one-line errors without tracebacks, resume, shards, merge-only."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from l2r_training.cli.export import ProgressBar, main, parse_method_options

from ..core.test_export_support import csv_rows, make_images, tiny_weights  # noqa: F401


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def _base(images: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return [str(images), "--out", str(out), "--model", "timm:resnet10t", "--weights", str(weights),
            "--device", "cpu", *extra]


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("l2r: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_export_then_resume_then_protocol_change(tmp_path, tiny_weights, capsys):
    images, out = tmp_path / "imgs", tmp_path / "out"
    make_images(images, 3)
    code, err = _run(capsys, *_base(images, out, tiny_weights, "--methods", "gradcam", "--curves-png"))
    assert code == 0 and "3 computed, 0 already done, 0 errors" in err and "export 3/3" in err
    assert len(csv_rows(out / "metrics.csv")) == 3 and len(list((out / "curves").glob("*.png"))) == 3
    code, err = _run(capsys, *_base(images, out, tiny_weights, "--methods", "gradcam", "--quiet"))
    assert code == 0 and "0 computed, 3 already done" in err and "export " not in err.split("exported")[0]
    code, err = _run(capsys, *_base(images, out, tiny_weights, "--methods", "gradcam", "--protocol", "rise"))
    line = _one_line_error(err)
    assert code == 2 and "another protocol (aha vs now rise" in line and "--force" in line
    code, err = _run(capsys, *_base(images, out, tiny_weights, "--methods", "gradcam", "--protocol", "rise",
                                    "--force", "--quiet"))
    assert code == 0 and {r["protocol"] for r in csv_rows(out / "metrics.csv")} == {"rise"}


def test_shards_then_merge_only(tmp_path, tiny_weights, capsys):
    images, out = tmp_path / "imgs", tmp_path / "out"
    make_images(images, 3)
    for shard in ("0/2", "1/2"):
        code, err = _run(capsys, *_base(images, out, tiny_weights, "--shard", shard, "--quiet"))
        assert code == 0 and f"(shard {shard})" in err
    assert [r["image"] for r in csv_rows(out / "metrics.csv")] == ["img00.png", "img01.png", "img02.png"]
    (out / "report.html").unlink()
    code, err = _run(capsys, "--out", str(out), "--merge-only")
    assert code == 0 and (out / "report.html").is_file() and "from 3 results" in err
    # default method without an explainer: gradcam
    assert json.loads((out / "manifest.json").read_text())["methods"] == {"gradcam": {"layer": None}}


@pytest.mark.parametrize("extra, needle", [
    (("--methods", "nope"), "unknown attribution method 'nope'"),
    (("--methods", "rollout"), "cannot run on timm:resnet10t: it needs a vision transformer"),
    (("--methods", "l2r", "--explainer", "/no/such/dir"), "/no/such/dir"),
    (("--shard", "2/2"), "--shard 2/2: need 0 <= I < N"),
    (("--shard", "a/b"), "expected I/N"),
    (("--option", "rise.n_masks"), "expected METHOD.KEY=VALUE"),
    (("--methods", "gradcam", "--option", "rise.n_masks=5"), "not in --methods"),
])
def test_user_errors_are_one_line_with_status_2(tmp_path, tiny_weights, capsys, extra, needle):
    images = tmp_path / "imgs"
    make_images(images, 1)
    code, err = _run(capsys, *_base(images, tmp_path / "out", tiny_weights, *extra))
    assert code == 2 and needle in _one_line_error(err)


def test_missing_folders_and_unwritable_output(tmp_path, tiny_weights, capsys):
    code, err = _run(capsys, *_base(tmp_path / "nothing", tmp_path / "out", tiny_weights))
    assert code == 2 and "nothing: not a folder" in _one_line_error(err)
    images = tmp_path / "imgs"
    make_images(images, 1)
    (tmp_path / "file").write_text("x")
    code, err = _run(capsys, *_base(images, tmp_path / "file" / "out", tiny_weights))
    line = _one_line_error(err)
    assert code == 2 and f"cannot write the export folder {tmp_path / 'file' / 'out'}" in line
    code, err = _run(capsys, "--out", str(tmp_path / "empty"), "--merge-only")
    assert code == 2 and "not an export folder" in _one_line_error(err)
    code, err = _run(capsys, "--out", str(tmp_path / "out2"), "--model", "timm:resnet10t", "--weights",
                     str(tiny_weights))
    assert code == 2 and "give the folder of images" in _one_line_error(err)


def test_progress_bar_reports_rate_and_eta():
    stream = io.StringIO()
    bar = ProgressBar(stream, every_s=0.0)
    bar.recent.extend([(0.0, 0), (2.0, 4)])  # 4 images in 2 s
    assert bar.line(4, 10, "x.png") == "export 4/10 [#########...............] 2.00 img/s ETA 0:03 x.png"
    bar.step(5, 10, "y.png")
    assert stream.getvalue().startswith("export 5/10")


def test_method_options_parse_types():
    assert parse_method_options(["rise.n_masks=500", "rise.p=0.25", "ig.baseline=black", "x.flag=true"]) == {
        "rise": {"n_masks": 500, "p": 0.25}, "ig": {"baseline": "black"}, "x": {"flag": True}}
