"""Batch export: files, rows, manifest, report, resume, refusal, shards, cancel, write errors."""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from l2r_core.atomic import HOST
from l2r_core.errors import Cancelled, ConfigError, ImageLoadError
from l2r_core.batch import ExportOptions, ExportWriteError, export_folder, rebuild_outputs
from l2r_core.batch import writer
from l2r_core.images import load_image
from l2r_core.metrics.protocols import get_protocol
from l2r_core.pipeline import explain, prepare, top_predictions
from l2r_core.progress import CancelToken

from .test_export_support import (SIDE, assert_same_export, csv_rows, make_images, result_files, tiny_model,  # noqa: F401
                                  tiny_weights)


def _opts(images: Path, out: Path, **kw) -> ExportOptions:
    kw.setdefault("methods", ["gradcam"])
    return ExportOptions(images, out, **kw)


def test_export_writes_maps_overlays_csv_manifest_report(tmp_path, tiny_model):
    images = tmp_path / "imgs"
    paths = make_images(images, 4)
    (images / "notes.png").write_text("not an image")
    out = tmp_path / "out"
    s = export_folder(tiny_model, _opts(images, out, curves_png=True))
    assert (s.images, s.computed, s.skipped, s.errors, s.cancelled) == (5, 5, 0, 1, False)
    # the raw map is exactly what pipeline.explain gives, at the model's input resolution
    prep = prepare(tiny_model, load_image(paths[1]))
    top = top_predictions(tiny_model, prep.x, 1)[0]
    ref = explain(tiny_model, prep.x, "gradcam")
    saved = np.load(out / "maps" / "img01.png.gradcam.npy")
    assert saved.dtype == np.float32 and saved.shape == (SIDE, SIDE)
    np.testing.assert_allclose(saved, ref.map, rtol=1e-5, atol=1e-6)
    rows = {r["image"]: r for r in csv_rows(out / "metrics.csv", drop=())}
    assert list(rows) == ["img00.png", "img01.png", "img02.png", "img03.png", "notes.png"]
    r = rows["img01.png"]
    assert r["status"] == "ok" and r["method"] == "gradcam" and r["protocol"] == "aha"
    assert int(r["predicted_class"]) == top.index == int(r["target_class"])
    assert float(r["probability"]) == pytest.approx(top.probability, rel=1e-5)
    assert float(r["deletion_auc"]) == pytest.approx(ref.curves("aha").deletion_auc, rel=1e-5)
    assert float(r["insertion_auc"]) == pytest.approx(ref.curves("aha").insertion_auc, rel=1e-5)
    assert float(r["seconds"]) > 0
    assert rows["notes.png"]["status"].startswith("error: ") and "not an image" in rows["notes.png"]["status"]
    from PIL import Image
    assert Image.open(out / r["overlay"]).size == (SIDE, SIDE)
    assert Image.open(out / r["curves"]).size == (360, 240)
    man = json.loads((out / "manifest.json").read_text())
    assert man["model"]["fingerprint"] == tiny_model.fingerprint
    assert man["protocol"] == get_protocol("aha").to_dict()
    assert man["preprocessing"]["input_size"] == [SIDE, SIDE]
    assert man["methods"]["gradcam"] == {"layer": None}
    assert {"torch", "timm", "numpy", "onnxruntime", "l2r-inspector"} <= set(man["versions"])
    assert man["started"] <= man["finished"] and man["counts"]["errors"] == 1
    html = (out / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    assert html.count("<tr class=\"err\"") == 1 and 'src="overlays/img00.png.gradcam.png"' in html
    # flagged rows (the error, low confidence of a random 5-class model) come first
    assert html.index("notes.png") < html.index("img00.png")
    assert 'id="paired"' not in html  # one method: nothing to pair


def test_report_pairs_each_method_with_the_first_named_on_shared_images():
    from l2r_core.batch.report import report_html

    def item(image, method, d, i, status="ok"):
        return {"image": image, "method": method, "deletion_auc": d, "insertion_auc": i, "status": status}

    items = [item("a", "l2r", 0.10, 0.50), item("b", "l2r", 0.20, 0.40), item("c", "l2r", 0.30, 0.60),
             item("a", "gradcam", 0.15, 0.45), item("b", "gradcam", 0.25, 0.35), item("c", "gradcam", 0.35, 0.55),
             item("d", "gradcam", 0.9, 0.1),  # no l2r result for d: not paired
             item("c", "rise", float("nan"), 0.2), item("a", "rise", 0.1, 0.5, status="error: x")]
    manifest = {"methods": {"l2r": {}, "gradcam": {}, "rise": {}}}
    html = report_html(manifest, items, [[] for _ in items])
    table = html[html.index('id="paired"'):]
    table = table[:table.index("</table>")]
    assert "minus <b>l2r</b>" in html
    # gradcam − l2r: +0.05 deletion on all 3 shared images (worse), −0.05 insertion (worse)
    assert "<td>gradcam</td><td>+0.050 [+0.050, +0.050]</td><td>0/3</td><td><b>worse</b></td>" in table
    assert "<td>-0.050 [-0.050, -0.050]</td><td>0/3</td><td><b>worse</b></td>" in table
    assert "rise" not in table  # its only results are an error and a NaN


def test_resume_skips_finished_and_redoes_missing_or_changed(tmp_path, tiny_model):
    images = tmp_path / "imgs"
    paths = make_images(images, 4)
    out = tmp_path / "out"
    export_folder(tiny_model, _opts(images, out))
    first = csv_rows(out / "metrics.csv")
    s = export_folder(tiny_model, _opts(images, out))
    assert (s.computed, s.skipped) == (0, 4)
    (out / "overlays" / "img02.png.gradcam.png").unlink()  # a lost output file is redone
    make_images(tmp_path / "other", 4, seed=5)[3].replace(paths[3])  # a replaced image is redone
    computed = []
    s = export_folder(tiny_model, _opts(images, out), on_item=lambda r: computed.append(r.image) if r.computed else 0)
    assert sorted(computed) == ["img02.png", "img03.png"] and s.skipped == 2
    rows = csv_rows(out / "metrics.csv")
    assert len(rows) == 4 and rows[:3] == first[:3] and rows[3] != first[3]
    # adding a method computes only that method
    s = export_folder(tiny_model, _opts(images, out, methods=["gradcam", "ig"], method_options={"ig": {"steps": 4}}))
    assert (s.computed, s.skipped) == (4, 4) and len(csv_rows(out / "metrics.csv")) == 8


def test_other_protocol_or_model_is_refused_unless_force(tmp_path, tiny_model, tiny_weights):
    images = tmp_path / "imgs"
    make_images(images, 2)
    out = tmp_path / "out"
    export_folder(tiny_model, _opts(images, out))
    with pytest.raises(ConfigError, match="another protocol .aha vs now xplique.*--force"):
        export_folder(tiny_model, _opts(images, out, protocol="xplique"))
    assert {r["protocol"] for r in csv_rows(out / "metrics.csv")} == {"aha"}  # untouched
    from .test_export_support import save_tiny_model, load_tiny
    other = load_tiny(save_tiny_model(tmp_path / "other_model", seed=1))
    assert other.fingerprint != tiny_model.fingerprint
    with pytest.raises(ConfigError, match="another model"):
        export_folder(other, _opts(images, out))
    with pytest.raises(ConfigError, match="'ig' results made with other options"):
        export_folder(tiny_model, _opts(images, out, methods=["ig"], method_options={"ig": {"steps": 4}}))
        export_folder(tiny_model, _opts(images, out, methods=["ig"], method_options={"ig": {"steps": 8}}))
    s = export_folder(tiny_model, _opts(images, out, protocol="xplique", force=True))
    assert (s.computed, s.skipped) == (2, 0)
    rows = csv_rows(out / "metrics.csv")
    assert [(r["method"], r["protocol"]) for r in rows] == [("gradcam", "xplique")] * 2  # ig rows gone too


def test_two_shards_equal_one_process(tmp_path, tiny_model):
    images = tmp_path / "imgs"
    make_images(images, 5)
    (images / "bad.jpg").write_bytes(b"")
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    export_folder(tiny_model, _opts(images, single, methods=["gradcam", "rise"], curves_png=True,
                                    method_options={"rise": {"n_masks": 16}}))
    sizes = []
    for i in (1, 0):
        s = export_folder(tiny_model, _opts(images, sharded, methods=["gradcam", "rise"], curves_png=True,
                                            shard=(i, 2), method_options={"rise": {"n_masks": 16}}))
        sizes.append(s.images)
    assert sorted(sizes) == [3, 3]
    assert_same_export(single, sharded)
    man = json.loads((sharded / "manifest.json").read_text())
    assert sorted(tuple(r["shard"]) for r in man["runs"]) == [(0, 2), (1, 2)]
    # --merge-only rebuilds the same table from the items
    (sharded / "metrics.csv").unlink()
    rebuild_outputs(sharded)
    assert csv_rows(sharded / "metrics.csv") == csv_rows(single / "metrics.csv")


def _odd_images(folder: Path) -> dict[str, str]:
    """name -> expected status prefix."""
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "full.jpg", quality=90)
    data = (folder / "full.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "full.jpg").unlink()
    Image.fromarray((rng.integers(0, 65536, (40, 40))).astype(np.uint16)).save(folder / "deep16.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (40, 60), dtype=np.uint8)])).save(folder / "rgba.png")
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(rgb).save(folder / "rotated.jpg", exif=exif, quality=95)
    (folder / "text.png").write_text("hello, I am not a PNG")
    (folder / "empty.png").write_bytes(b"")
    return {"truncated.jpg": "error: ", "deep16.png": "ok", "cmyk.jpg": "ok", "rgba.png": "ok", "gray.png": "ok",
            "rotated.jpg": "ok", "text.png": "error: ", "empty.png": "error: "}


def test_corrupt_and_odd_images_each_end_as_a_row(tmp_path, tiny_model):
    from PIL import Image, ImageOps

    expected = _odd_images(tmp_path / "imgs")
    # the EXIF-rotated photo, decoded and turned upright by hand, stored losslessly
    upright = ImageOps.exif_transpose(Image.open(tmp_path / "imgs" / "rotated.jpg")).convert("RGB")
    assert upright.size == (40, 60)
    upright.save(tmp_path / "imgs" / "upright.png")
    expected["upright.png"] = "ok"
    out = tmp_path / "out"
    s = export_folder(tiny_model, _opts(images := tmp_path / "imgs", out))
    rows = {r["image"]: r for r in csv_rows(out / "metrics.csv")}
    assert set(rows) == set(expected) and s.errors == 3
    for name, prefix in expected.items():
        assert rows[name]["status"].startswith(prefix), (name, rows[name]["status"])
    assert "empty (0 bytes)" in rows["empty.png"]["status"]
    assert "damaged or truncated" in rows["truncated.jpg"]["status"]
    np.testing.assert_array_equal(np.load(out / "maps/rotated.jpg.gradcam.npy"), np.load(out / "maps/upright.png.gradcam.npy"))
    assert images.is_dir()


def test_cancel_stops_between_images_and_rerun_finishes(tmp_path, tiny_model):
    images = tmp_path / "imgs"
    make_images(images, 5)

    class CancelAfter(CancelToken):
        def step(self, done: int, total: int, message: str = "") -> None:
            if done >= 2:
                self.cancel()
            super().step(done, total, message)

    out = tmp_path / "out"
    s = export_folder(tiny_model, _opts(images, out), progress=CancelAfter())
    assert s.cancelled and s.computed == 2
    assert [r["image"] for r in csv_rows(out / "metrics.csv")] == ["img00.png", "img01.png"]
    assert json.loads((out / "manifest.json").read_text())["runs"][0]["status"] == "cancelled"
    s = export_folder(tiny_model, _opts(images, out))
    assert (s.computed, s.skipped, s.cancelled) == (3, 2, False)


def test_cancel_reaches_inside_a_method(tmp_path, tiny_model):
    images = tmp_path / "imgs"
    make_images(images, 1)
    token = CancelToken()
    token.cancel()  # already cancelled: stops before any item
    with pytest.raises(Cancelled):
        list(__import__("l2r_core.batch", fromlist=["iter_export"]).iter_export(
            tiny_model, _opts(images, tmp_path / "out"), progress=token))
    assert not list((tmp_path / "out" / ".state" / "items").rglob("*.json"))


def test_output_folder_that_cannot_exist_is_a_clear_error(tmp_path, tiny_model):
    images = tmp_path / "imgs"
    make_images(images, 1)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ExportWriteError, match=r"cannot write the export folder .*afile/out.*another --out"):
        export_folder(tiny_model, _opts(images, tmp_path / "afile" / "out"))


def test_full_disk_stops_with_clear_error_and_rerun_resumes(tmp_path, tiny_model, monkeypatch):
    images = tmp_path / "imgs"
    make_images(images, 4)
    out = tmp_path / "out"
    real_replace, calls = os.replace, []

    def replace(src, dst):  # the 8th file write finds the disk full
        calls.append(dst)
        if len(calls) == 8:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", replace)
    with pytest.raises(ExportWriteError, match=f"{out}.*disk is full.*rerun"):
        export_folder(tiny_model, _opts(images, out))
    monkeypatch.setattr(writer.os, "replace", real_replace)
    assert not [p for p in out.rglob("*") if p.name.endswith(writer.TEMP_MARK)]
    s = export_folder(tiny_model, _opts(images, out))
    assert s.skipped >= 1 and s.computed + s.skipped == 4
    assert len(csv_rows(out / "metrics.csv")) == 4


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    live = tmp_path / f".a.npy.{HOST}-{os.getpid()}-abcd{writer.TEMP_MARK}"
    dead = tmp_path / f".b.npy.{HOST}-999999999-abcd{writer.TEMP_MARK}"
    foreign = tmp_path / f".c.npy.otherhost-12-abcd{writer.TEMP_MARK}"
    for p in (live, dead, foreign):
        p.write_bytes(b"partial")
    assert writer.remove_stale_temps(tmp_path) == 1
    assert live.exists() and not dead.exists() and foreign.exists()  # foreign: only when older than 1 h
    os.utime(foreign, (1, 1))
    assert writer.remove_stale_temps(tmp_path) == 1 and not foreign.exists()


def test_output_inside_the_image_folder_is_not_explained(tmp_path, tiny_model):
    images = tmp_path / "imgs"
    make_images(images, 2)
    for out in (images / "export", images):  # a subfolder, or the image folder itself
        for _ in range(2):
            s = export_folder(tiny_model, _opts(images, out, recursive=True))
        assert s.images == 2 and s.skipped == 2
        shutil.rmtree(images / "export", ignore_errors=True)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ImageLoadError, match="no images found .add --recursive"):
        export_folder(tiny_model, _opts(tmp_path / "empty", tmp_path / "o"))


def _tiny_explainer(model, seed: int):
    import torch
    from l2r_core.explainer import ExplainerConfig, build_explainer

    torch.manual_seed(seed)
    return build_explainer(model, ExplainerConfig(num_classes=5, input_size=(SIDE, SIDE), stage_channels=16,
                                                  fusion_channels=16, embed_dim=8))


def test_learned_explainer_is_the_default_and_its_identity_is_checked(tmp_path, tiny_model):
    from l2r_core.explainer import explainer_fingerprint

    images, out = tmp_path / "imgs", tmp_path / "out"
    make_images(images, 2)
    explainer = _tiny_explainer(tiny_model, 0)
    s = export_folder(tiny_model, ExportOptions(images, out, explainer_source="expl-a"), explainer=explainer)
    assert s.methods == ["l2r"] and s.errors == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["explainer"]["fingerprint"] == explainer_fingerprint(explainer)
    assert man["explainer"]["source"] == "expl-a" and man["explainer"]["config"]["embed_dim"] == 8
    with pytest.raises(ConfigError, match="another explainer"):
        export_folder(tiny_model, ExportOptions(images, out), explainer=_tiny_explainer(tiny_model, 1))
    with pytest.raises(ConfigError, match="needs a trained explainer"):
        export_folder(tiny_model, ExportOptions(images, tmp_path / "o2", methods=["l2r"]))


def test_shard_selection_is_deterministic_and_follows_torchrun(monkeypatch):
    from l2r_core.batch import env_shard, parse_shard, shard_entries

    entries = list(range(7))
    parts = [shard_entries(entries, (i, 3)) for i in range(3)]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert parse_shard("1/3") == (1, 3)
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert env_shard() == (2, 4)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    assert env_shard() == (0, 1)


def test_flag_rules_on_hand_made_maps():
    from l2r_core.batch.flags import border_fraction, flags_for, worst_cutoffs

    centre = np.zeros((20, 20))
    centre[8:12, 8:12] = 1.0
    frame = np.zeros((20, 20))
    frame[:2, :] = 1.0  # the top border band (2 px = 10% of 20)
    assert border_fraction(centre) == 0.0 and border_fraction(frame) == 1.0
    assert np.isnan(border_fraction(np.ones((20, 20))))
    ramp = np.tile(np.arange(20.0), (20, 1))  # signed/offset maps: only the part above the median counts
    assert border_fraction(ramp - 100) == pytest.approx(border_fraction(ramp))
    ok = {"status": "ok", "method": "m", "probability": 0.9, "border_fraction": 0.2, "deletion_auc": 0.1,
          "insertion_auc": 0.6}
    assert flags_for(ok, {}) == []
    assert flags_for({**ok, "probability": 0.3, "border_fraction": 0.7, "deletion_auc": 0.7}, {}) == [
        "low-confidence", "border", "poor-curves"]
    assert flags_for({"status": "error: x", "method": "m"}, {}) == ["error"]
    items = [{**ok, "insertion_auc": 0.2 + 0.05 * i} for i in range(10)]  # margins 0.1 .. 0.55
    cut = worst_cutoffs(items)["m"]
    assert [bool(flags_for(it, {"m": cut})) for it in items] == [True] + [False] * 9


def test_two_shards_running_at_once_leave_a_complete_summary(tmp_path, tiny_model, tiny_weights):
    import threading

    from .test_export_support import load_tiny

    images, single, both = tmp_path / "imgs", tmp_path / "single", tmp_path / "both"
    make_images(images, 6)
    export_folder(tiny_model, _opts(images, single))
    models = [load_tiny(tiny_weights), load_tiny(tiny_weights)]  # one model per thread: hooks are per module
    errors: list[BaseException] = []

    def shard(i: int) -> None:
        try:
            export_folder(models[i], _opts(images, both, shard=(i, 2)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert_same_export(single, both)  # whichever shard finished last rebuilt the summary from all items
