"""The offline photo corpus: rcc reader, photo/drawing rule, dedupe, licences, hold-out, CLI, augmentation."""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from l2r_core.models.preprocessing import Preprocessing
from l2r_training import photo_corpus as pc
from l2r_training.corpus_augment import augment_photo, composite
from l2r_training.data import BatchLoader, augment_image, scan_folder
from l2r_training.rcc import FLAG_ZLIB, RccError, RccFile, pack_rcc, zstd_available

skdata = pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) gives the natural photos")

GCOMPRIS = Path("/usr/share/gcompris-qt/rcc")
TUXPAINT = Path("/usr/share/tuxpaint/stamps")
QABCS = Path("/usr/share/qabcs/abcs/all/pics")
PRE = Preprocessing(input_size=(48, 64), crop_pct=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def cartoon(size: tuple[int, int] = (320, 240), seed: int = 0) -> Image.Image:
    """Flat-colour shapes with black outlines on white: clip art."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(5):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        box = (x0, y0, x0 + int(rng.integers(40, 120)), y0 + int(rng.integers(40, 120)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour, outline=(0, 0, 0), width=4)
    return img


def photo(name: str, box: tuple[int, int, int, int] | None = None) -> Image.Image:
    img = Image.fromarray(getattr(skdata, name)()).convert("RGB")
    return img.crop(box) if box else img


def cutout_of(img: Image.Image) -> Image.Image:
    """An RGBA cut-out: an ellipse of ``img`` on a transparent surround."""
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).ellipse((10, 10, img.width - 10, img.height - 10), fill=255)
    out = img.convert("RGBA")
    out.putalpha(mask)
    return out


# --- rcc reader -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_reads_plain_and_zlib_entries(tmp_path: Path, version: int) -> None:
    files = {"gcompris/src/a/one.txt": b"hello", "gcompris/src/a/b/two.png": png(Image.new("RGB", (20, 10), (9, 8, 7))),
             "top.bin": bytes(range(256)) * 4}
    path = tmp_path / "x.rcc"
    path.write_bytes(pack_rcc(files, compress={"top.bin", "gcompris/src/a/b/two.png"}, version=version))
    rcc = RccFile(path)
    assert rcc.version == version
    assert sorted(e.path for e in rcc.entries) == sorted(files)
    by_path = {e.path: e for e in rcc.entries}
    assert by_path["top.bin"].compression == "zlib" and by_path["gcompris/src/a/one.txt"].compression == "none"
    for name, data in files.items():
        assert rcc.read(by_path[name]) == data
    assert Image.open(io.BytesIO(rcc.read(by_path["gcompris/src/a/b/two.png"]))).size == (20, 10)


def test_rcc_reader_matches_the_qt_layout_byte_for_byte(tmp_path: Path) -> None:
    # Written by hand from Qt's format, independent of pack_rcc: root dir -> one zlib file "a".
    name = "a".encode("utf-16-be")
    names = struct.pack(">HI", 1, 97) + name
    payload = b"qt resource " * 10
    blob = struct.pack(">I", len(payload)) + zlib.compress(payload)
    data = struct.pack(">I", len(blob)) + blob
    tree = (struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8  # root: 1 child from index 1
            + struct.pack(">IHHHI", 0, FLAG_ZLIB, 0, 0, 0) + b"\0" * 8)
    header_len = 24
    raw = (b"qres" + struct.pack(">IIIII", 3, header_len, header_len + len(tree), header_len + len(tree) + len(data), 1)
           + tree + data + names)
    (tmp_path / "h.rcc").write_bytes(raw)
    rcc = RccFile(tmp_path / "h.rcc")
    assert [e.path for e in rcc.entries] == ["a"]
    assert rcc.read(rcc.entries[0]) == payload


def test_rcc_reader_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rcc"
    bad.write_bytes(b"not a bundle at all, sorry")
    with pytest.raises(RccError, match="bad.rcc.*qres"):
        RccFile(bad)
    v9 = tmp_path / "v9.rcc"
    v9.write_bytes(b"qres" + struct.pack(">IIII", 9, 20, 20, 20))
    with pytest.raises(RccError, match="version 9"):
        RccFile(v9)
    z = tmp_path / "z.rcc"
    z.write_bytes(pack_rcc({"img.png": b"\x28\xb5\x2f\xfd not really"}, zstd={"img.png"}))
    entry = RccFile(z).entries[0]
    assert entry.compression == "zstd"
    if not zstd_available():
        with pytest.raises(RccError, match="zstandard"):
            RccFile(z).read(entry)


def test_rcc_reader_on_installed_gcompris() -> None:
    bundle = GCOMPRIS / "explore_world_animals.rcc"
    if not bundle.is_file():
        pytest.skip("gcompris-qt-data is not installed (apt-get install --no-install-recommends gcompris-qt-data)")
    rcc = RccFile(bundle)
    webps = [e for e in rcc.entries if e.path.endswith(".webp")]
    assert len(webps) >= 10
    assert min(Image.open(io.BytesIO(rcc.read(e))).size[0] for e in webps[:3]) > 100


# --- the photo/drawing rule -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_natural_photos_are_photos(name: str) -> None:
    stats = pc.colour_stats(photo(name))
    assert pc.is_photo(stats), pc.reject_reason(stats)


def test_drawings_are_not_photos() -> None:
    flat = cartoon()
    assert not pc.is_photo(pc.colour_stats(flat))
    # a smooth vector gradient behind the shapes: smooth, noiseless, still a drawing
    ramp = np.linspace(0, 1, 320)[None, :, None] * np.array([200, 120, 255]) + np.array([30, 60, 0])
    grad = Image.fromarray(np.broadcast_to(ramp, (240, 320, 3)).astype(np.uint8))
    grad.paste(flat.crop((0, 0, 160, 120)), (80, 60))
    assert not pc.is_photo(pc.colour_stats(grad))
    # a flat cut-out (transparent surround)
    assert not pc.is_photo(pc.colour_stats(cutout_of(flat)))
    assert pc.reject_reason(pc.colour_stats(flat))


def test_a_photo_cutout_is_a_photo_and_keeps_alpha() -> None:
    cut = cutout_of(photo("chelsea"))
    prepared, is_cut = pc.prepare(cut)
    assert is_cut and prepared.mode == "RGBA"
    assert prepared.width < cut.width and prepared.height < cut.height  # cropped to the alpha
    assert pc.is_photo(pc.colour_stats(prepared))
    opaque, is_cut = pc.prepare(photo("coffee").convert("RGBA"))
    assert not is_cut and opaque.mode == "RGB"


# Known examples from the installed packages (each looked at by eye).
GC = "gcompris/src/activities"
PACKAGE_PHOTOS = [
    ("gcompris", "categorization.rcc", f"{GC}/categorization/resource/images/fishes/fish7.webp"),
    ("gcompris", "explore_world_animals.rcc", f"{GC}/explore_world_animals/resource/animals/koala.webp"),
    ("file", str(TUXPAINT / "animals/mammals/bovines/bison.png"), None),
    ("file", str(TUXPAINT / "plants/flowers/anemone_red.png"), None),
    ("file", str(QABCS / "animals/chinchilla.png"), None),
]
PACKAGE_DRAWINGS = [
    ("gcompris", "lang.rcc", f"{GC}/lang/resource/words_sample/wolf.webp"),
    ("gcompris", "lang.rcc", f"{GC}/lang/resource/words_sample/apple.webp"),
    ("file", str(TUXPAINT / "animals/birds/cartoon/tux.png"), None),
    ("file", str(TUXPAINT / "symbols/alphabets/asl/asl_a.png"), None),
    ("file", str(QABCS / "food/cherries.png"), None),
]


def _package_image(kind: str, path: str, inner: str | None) -> Image.Image:
    if kind == "gcompris":
        bundle = GCOMPRIS / path
        if not bundle.is_file():
            pytest.skip(f"{bundle} missing: apt-get install --no-install-recommends gcompris-qt-data")
        rcc = RccFile(bundle)
        entry = next((e for e in rcc.entries if e.path == inner), None)
        if entry is None:
            pytest.skip(f"{inner} not in this gcompris-qt-data version")
        return Image.open(io.BytesIO(rcc.read(entry)))
    if not Path(path).is_file():
        pytest.skip(f"{path} missing: apt-get install --no-install-recommends tuxpaint-stamps-default qabcs-data")
    return Image.open(path)


@pytest.mark.parametrize("example", PACKAGE_PHOTOS, ids=lambda e: Path(e[2] or e[1]).stem)
def test_package_photos_are_photos(example: tuple[str, str, str | None]) -> None:
    img, _ = pc.prepare(_package_image(*example))
    stats = pc.colour_stats(img)
    assert pc.is_photo(stats), pc.reject_reason(stats)


@pytest.mark.parametrize("example", PACKAGE_DRAWINGS, ids=lambda e: Path(e[2] or e[1]).stem)
def test_package_drawings_are_drawings(example: tuple[str, str, str | None]) -> None:
    img, _ = pc.prepare(_package_image(*example))
    assert not pc.is_photo(pc.colour_stats(img))


# --- dedupe, licences, hold-out ---------------------------------------------------------------

def _item(source: str, rel: str, img: Image.Image, kind: str = "photo") -> pc.Item:
    return pc.Item(pc.Candidate(source, Path("/x") / rel, rel), kind, img.width, img.height,
                   pc.colour_stats(img), pc.dhash(img))


def test_dedupe_keeps_the_largest_copy() -> None:
    big = photo("astronaut")
    small = big.resize((200, 200))
    other = photo("chelsea")
    items = [_item("p", "a/small.jpg", small), _item("p", "b/big.jpg", big), _item("p", "c/cat.jpg", other)]
    kept, dropped = pc.dedupe(items)
    assert [it.cand.rel for it in kept] == ["b/big.jpg", "c/cat.jpg"]
    assert [(d.cand.rel, twin.cand.rel) for d, twin in dropped] == [("a/small.jpg", "b/big.jpg")]


def test_licence_from_the_dep5_paragraph_that_matches(tmp_path: Path) -> None:
    (tmp_path / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: someone\nLicense: GPL-3+\n\n"
        "Files: src/fish/fish1.jpg\n src/fish/fish2.jpg\nCopyright: a\nLicense: CC-BY-SA-3.0\n\n"
        "Files: src/photos/*\nCopyright: b\nLicense: public-domain\n\n"
        "License: GPL-3+\n The text of the GPL.\n", encoding="utf-8")
    rules = pc.read_copyright(tmp_path / "copyright")
    assert pc.licence_for(rules, "src/fish/fish2.jpg") == ("CC-BY-SA-3.0", "src/fish/fish2.jpg")
    # the package ships the photo as .webp: the .jpg paragraph still applies
    assert pc.licence_for(rules, "src/fish/fish1.webp")[0] == "CC-BY-SA-3.0"
    assert pc.licence_for(rules, "src/photos/deep/x.png") == ("public-domain", "src/photos/*")
    assert pc.licence_for(rules, "other/thing.png") == ("GPL-3+", "*")
    assert pc.licence_for([], "x.png") == ("unknown", "*")


def test_holdout_is_by_name_hash_and_at_least_the_minimum() -> None:
    items = [pc.Item(pc.Candidate("s", Path(f"/p{i}"), f"p{i}.jpg"), "photo", 8, 8,
                     pc.ColourStats(0, 0, 0, 0, 0, 0), i, name=f"p{i:03d}") for i in range(200)]
    items.append(pc.Item(pc.Candidate("s", Path("/c"), "c.png"), "cutout", 8, 8, pc.ColourStats(0, 0, 0, 0, 0, 0), 0,
                         name="c"))
    pc.assign_splits(items)
    held = [it.name for it in items if it.split == "heldout"]
    assert len(held) >= pc.HELDOUT_MIN and items[-1].split == "train"
    below = [it.name for it in items[:200] if pc.heldout_key("s", it.name) < pc.HELDOUT_FRACTION]
    assert set(below) <= set(held)
    # independent of list order and of random state
    np.random.seed(1)
    again = list(reversed(items))
    pc.assign_splits(again)
    assert sorted(it.name for it in again if it.split == "heldout") == sorted(held)


# --- end to end on a tiny fake package tree ---------------------------------------------------

def _fake_packages(root: Path) -> dict[str, Path]:
    """Fake package folders: photos (crops of skimage photos), drawings, cut-outs, a tiny icon,
    a duplicate, and a gcompris-like .rcc with a zlib-compressed photo."""
    cat, tissue = photo("chelsea"), photo("immunohistochemistry")
    shots = [photo(n).convert("RGB") for n in ("astronaut", "rocket", "coffee", "camera", "coins",
                                                 "hubble_deep_field")]
    wall = root / "wall"
    wall.mkdir(parents=True)
    tissue.save(wall / "tissue.jpg", quality=95)
    tissue.resize((300, 300)).save(wall / "tissue_small.jpg", quality=95)  # duplicate: dropped
    cartoon((400, 300), 1).save(wall / "abstract.png")
    stamps = root / "stamps"
    (stamps / "animals").mkdir(parents=True)
    cutout_of(cat).save(stamps / "animals" / "cat.png")
    cutout_of(cartoon((300, 260), 2)).save(stamps / "animals" / "cartoon.png")
    Image.new("RGBA", (60, 60), (200, 0, 0, 255)).save(stamps / "animals" / "icon.png")  # too small
    rcc_dir = root / "rcc"
    rcc_dir.mkdir()
    files = {f"gcompris/src/activities/x/p{i}.png": png(shot.resize((300, round(300 * shot.height / shot.width))))
             for i, shot in enumerate(shots)}
    files["gcompris/src/activities/x/drawing.png"] = png(cartoon((300, 300), 3))
    (rcc_dir / "x.rcc").write_bytes(pack_rcc(files, compress={"gcompris/src/activities/x/p0.png"}))
    docs = root / "doc" / "gcompris-qt-data"
    docs.mkdir(parents=True)
    (docs / "copyright").write_text("Files: *\nLicense: GPL-3+\n\nFiles: src/activities/x/p1.jpg\nLicense: CC0-1.0\n",
                                    encoding="utf-8")
    return {"gcompris-qt-data": rcc_dir, "tuxpaint-stamps-default": stamps, "mate-backgrounds": wall}


def test_build_corpus_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roots = _fake_packages(tmp_path / "pkgs")
    out = tmp_path / "corpus"
    argv = [str(out), "--quiet", "--doc-root", str(tmp_path / "pkgs" / "doc")]
    for name, folder in roots.items():
        argv += ["--root", f"{name}={folder}"]
    assert pc.main(argv) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = {Path(e["file"]).stem: e for e in manifest["files"]}
    assert set(files) == {"x_p0", "x_p1", "x_p2", "x_p3", "x_p4", "x_p5", "tissue", "animals_cat"}
    assert files["animals_cat"]["kind"] == "cutout" and files["animals_cat"]["file"].endswith(".png")
    assert files["tissue"]["kind"] == "scene" and files["tissue"]["width"] == 512
    assert files["x_p1"]["licence"] == "CC0-1.0" and files["x_p2"]["licence"] == "GPL-3+"
    assert files["x_p0"]["inner"] == "gcompris/src/activities/x/p0.png"
    assert files["x_p0"]["original"] == str(roots["gcompris-qt-data"] / "x.rcc")
    assert files["animals_cat"]["licence"] == "unknown"  # no copyright file for it here
    held = [e for e in manifest["files"] if e["split"] == "heldout"]
    below = [s for s in files if s.startswith("x_") and pc.heldout_key("gcompris-qt-data", s) < pc.HELDOUT_FRACTION]
    # the photos with key below the fraction, topped up to half of the 6 (fewer than twice HELDOUT_MIN)
    assert len(held) == max(3, len(below)) and all(e["kind"] == "photo" for e in held)
    for e in manifest["files"]:
        data = (out / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"]
        assert (out / e["split"] / e["file"]).read_bytes() == data
    with Image.open(out / files["animals_cat"]["file"]) as im:
        assert im.mode == "RGBA"
    rejected = json.loads((out / "rejected.json").read_text(encoding="utf-8"))
    reasons = {Path(r["inner"] or r["original"]).stem: r["reason"] for r in rejected}
    assert reasons["icon"].startswith("too small") and reasons["tissue_small"].startswith("duplicate")
    assert reasons["drawing"].startswith("drawing") and reasons["abstract"].startswith("drawing")
    assert reasons["cartoon"].startswith("drawing")
    digest = pc.manifest_hash(out)
    assert digest in printed and f"6 photos, 1 scenes, 1 cutouts; {len(held)} photos held out" in printed
    # the training folders load directly, and a rebuild is byte-identical
    assert len(scan_folder(out / "train", []).paths) == 8 - len(held)
    assert len(scan_folder(out / "heldout", []).paths) == len(held)
    assert pc.main(argv) == 0
    assert pc.manifest_hash(out) == digest


def test_cli_errors_are_one_line_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope" / "corpus"
    assert pc.main([str(missing), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(missing.parent) in err and "mkdir -p" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert pc.main([str(tmp_path / "c"), "--quiet", "--root", f"qabcs-data={empty}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "apt-get install --no-install-recommends gcompris-qt-data" in err and err.count("\n") == 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "thesis.tex").write_text("x")
    assert pc.main([str(tmp_path / "full"), "--quiet"]) == 2
    assert "thesis.tex" in capsys.readouterr().err


def test_unwritable_out_dir_is_one_line_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere, so no folder is unwritable to this test")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert pc.main([str(locked), "--quiet"]) == 2
        assert f"{locked}: not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


# --- augmentation -----------------------------------------------------------------------------

def test_augment_photo_shapes_and_determinism() -> None:
    img = photo("coffee")
    a = augment_photo(img, (48, 64), np.random.default_rng([0, 1]))
    b = augment_photo(img, (48, 64), np.random.default_rng([0, 1]))
    c = augment_photo(img, (48, 64), np.random.default_rng([0, 2]))
    assert a.size == (64, 48) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b)) and not np.array_equal(np.asarray(a), np.asarray(c))


def test_composite_changes_the_scene_only_under_the_cutout() -> None:
    scene = photo("coffee").resize((160, 120))
    cut = cutout_of(photo("chelsea").resize((150, 100)))
    out, mask = composite(scene, cut, np.random.default_rng(3))
    again, mask2 = composite(scene, cut, np.random.default_rng(3))
    assert out.size == scene.size and mask.shape == (120, 160)
    assert np.array_equal(np.asarray(out), np.asarray(again)) and np.array_equal(mask, mask2)
    o, s = np.asarray(out), np.asarray(scene)
    assert np.array_equal(o[mask == 0], s[mask == 0])
    assert (mask > 0).sum() > 0.05 * mask.size and not np.array_equal(o[mask == 255], s[mask == 255])


def test_photo_augmentation_in_the_loader(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "cutouts").mkdir()
    photo("coffee").resize((120, 80)).save(tmp_path / "photos" / "coffee.jpg")
    photo("astronaut").resize((90, 90)).save(tmp_path / "photos" / "astro.jpg")
    cutout_of(photo("chelsea").resize((90, 60))).save(tmp_path / "cutouts" / "cat.png")
    images = scan_folder(tmp_path, [])
    idx = list(range(len(images.paths)))
    loaders = [BatchLoader(images, idx, PRE, "photo", 3, seed=5, threads=1) for _ in range(2)]
    try:
        assert loaders[0]._cutouts == {images.paths.index(tmp_path / "cutouts" / "cat.png")}
        x0, _ = loaders[0].get(4, prefetch=False)
        x1, _ = loaders[1].get(4, prefetch=False)
        assert x0.shape == (3, 3, 48, 64) and torch.equal(x0, x1)
        assert not torch.equal(x0, loaders[0].get(5, prefetch=False)[0])
    finally:
        for loader in loaders:
            loader.close()
    cut = Image.open(tmp_path / "cutouts" / "cat.png")
    t = augment_image(cut, PRE, "photo", np.random.default_rng(0), scene=photo("coffee"))
    u = augment_image(cut, PRE, "photo", np.random.default_rng(0))  # no scene: over white
    assert t.shape == u.shape == (3, 48, 64) and not torch.equal(t, u)
