"""An offline corpus of natural photos for training explainers, gathered from Debian packages.

``python -m l2r_training.photo_corpus OUT_DIR`` reads the photographs that ship with five Debian
packages (nothing is downloaded), keeps the real photos, drops drawings, clip art and duplicates,
and writes::

    OUT_DIR/photos/<source>/<name>.jpg     full-frame photos
    OUT_DIR/scenes/<source>/<name>.jpg     wallpapers (photo backgrounds)
    OUT_DIR/cutouts/<source>/<name>.png    photo cut-outs, alpha kept
    OUT_DIR/train/...                      hard links of everything training may use
    OUT_DIR/heldout/...                    hard links of the held-out photos (never trained on)
    OUT_DIR/manifest.json                  source, original path, licence, kind, size, split per file
    OUT_DIR/rejected.json                  what was left out and why (for review; not hashed)

``l2r train OUT_DIR/train --augment photo`` pastes the cut-outs onto the photos and scenes;
``l2r evaluate OUT_DIR/heldout`` scores on photos the explainer has never seen.
See docs/photo_corpus.md for the counts, the hold-out rule and the photo/drawing rule.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageOps

from l2r_core.atomic import atomic_write_bytes, atomic_write_text
from l2r_core.errors import L2RError

from .rcc import RccError, RccFile, zstd_available

FORMAT = "l2r-photo-corpus/1"
# Where each package puts its images (Debian paths).
SOURCE_ROOTS: dict[str, Path] = {
    "gcompris-qt-data": Path("/usr/share/gcompris-qt/rcc"),
    "tuxpaint-stamps-default": Path("/usr/share/tuxpaint/stamps"),
    "qabcs-data": Path("/usr/share/qabcs"),
    "mate-backgrounds": Path("/usr/share/backgrounds/mate"),
    "plasma-workspace-wallpapers": Path("/usr/share/wallpapers"),
}
DOC_ROOT = Path("/usr/share/doc")
APT_HINT = "apt-get install --no-install-recommends " + " ".join(SOURCE_ROOTS)
# Wallpapers are backgrounds by purpose: their photos become "scene"s, never held out.
SCENE_SOURCES = frozenset({"mate-backgrounds", "plasma-workspace-wallpapers"})
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")  # SVG is vector art by construction: never a photo
MIN_SIDE = 128  # short side after the alpha crop; smaller images are thumbnails or icons
MAX_SIDE = 1600  # written images are downscaled to this long side (models see ~224 px)
JPEG_QUALITY = 92
# A cut-out needs a real transparent surround; below this share of clear pixels (inside the
# alpha bounding box) the alpha is decoration and the image counts as full-frame.
CUTOUT_MIN_CLEAR = 0.02
HELDOUT_FRACTION = 0.25
HELDOUT_MIN = 40
DHASH_BITS_DIFF = 6  # two images within this Hamming distance (of 64 bits) are the same picture
# gcompris activities whose images are reproductions of paintings: colour statistics cannot tell an
# oil painting's photograph from a photo, so these folders are left out by name.
PAINTING_FOLDERS = ("src/activities/paintings/", "src/activities/details/", "src/activities/babyshapes/resource/image/")


class CorpusError(L2RError):
    """The corpus cannot be built (no sources, an unusable output folder)."""


# ---------------------------------------------------------------------------------------------
# The photo/drawing rule

ANALYSIS_SIDE = 256  # statistics are taken on a copy with this long side (box filter)
# Neighbour steps are sum |dR|+|dG|+|dB| (0-765). A backdrop pixel differs from each 4-neighbour by
# at most SMOOTH_STEP; a textured pair differs by more than FLAT_STEP and less than EDGE_STEP; a
# hard edge (an outline, a fill boundary) by EDGE_STEP or more.
SMOOTH_STEP = 12
FLAT_STEP = 6
EDGE_STEP = 96
NOISE_STEP = 8  # luminance steps below this count as "smooth" for the noise measure


@dataclass(frozen=True)
class ColourStats:
    """Colour statistics of an image's subject (see ``colour_stats``)."""

    backdrop: float  # share of the opaque pixels in the smooth backdrop (left out of the rest)
    pixels: int  # subject pixels measured (of at most ANALYSIS_SIDE**2)
    texture: float  # share of subject neighbour pairs that are textured (FLAT_STEP < step < EDGE_STEP)
    edges: float  # share of the non-flat pairs that are hard edges (step >= EDGE_STEP)
    zero: float  # share of subject neighbour pairs of identical colour
    noise: float  # mean |second difference| of luminance where it is smooth (grain, sensor noise)


def backdrop(rgb: np.ndarray, opaque: np.ndarray) -> np.ndarray:
    """The smooth region connected to the image border: sky, a studio backdrop, blurred background,
    the flat white around clip art. Pixels whose every 4-neighbour is within SMOOTH_STEP, grown
    from the border (4-connected). A cut-out's border is transparent, so it has none."""
    rgb = rgb.astype(np.int32)
    dx = np.abs(rgb[:, 1:] - rgb[:, :-1]).sum(-1)
    dy = np.abs(rgb[1:] - rgb[:-1]).sum(-1)
    step = np.zeros(opaque.shape, dtype=np.int32)
    step[:, 1:] = np.maximum(step[:, 1:], dx)
    step[:, :-1] = np.maximum(step[:, :-1], dx)
    step[1:] = np.maximum(step[1:], dy)
    step[:-1] = np.maximum(step[:-1], dy)
    smooth = (step <= SMOOTH_STEP) & opaque
    region = np.zeros_like(smooth)
    region[[0, -1], :], region[:, [0, -1]] = smooth[[0, -1], :], smooth[:, [0, -1]]
    while True:  # geodesic dilation inside ``smooth``, 8 steps per convergence check
        grown = region.copy()
        for _ in range(8):
            grown[1:] |= grown[:-1]
            grown[:-1] |= grown[1:]
            grown[:, 1:] |= grown[:, :-1]
            grown[:, :-1] |= grown[:, 1:]
            grown &= smooth
        if np.array_equal(grown, region):
            return region
        region = grown


def colour_stats(img: Image.Image) -> ColourStats:
    """Statistics of ``img`` (any mode; alpha below 250 counts as transparent) on a copy whose long
    side is ANALYSIS_SIDE. The smooth backdrop is measured, then left out: the rest (the subject)
    decides. Pairs count only when both pixels belong to the subject."""
    rgba = img.convert("RGBA")
    scale = ANALYSIS_SIDE / max(rgba.size)
    if scale < 1:
        size = (max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale)))
        rgba = rgba.resize(size, Image.Resampling.BOX)
    arr = np.asarray(rgba, dtype=np.int16)
    rgb, opaque = arr[..., :3], arr[..., 3] >= 250
    back = backdrop(rgb, opaque)
    subject = opaque & ~back
    back_share = float(back.sum() / max(1, opaque.sum()))
    dx = np.abs(rgb[:, 1:] - rgb[:, :-1]).sum(-1)[subject[:, 1:] & subject[:, :-1]]
    dy = np.abs(rgb[1:] - rgb[:-1]).sum(-1)[subject[1:] & subject[:-1]]
    d = np.concatenate([dx, dy])
    if d.size < 50:
        return ColourStats(back_share, int(subject.sum()), 0.0, 1.0, 1.0, 0.0)
    textured = int(((d > FLAT_STEP) & (d < EDGE_STEP)).sum())
    hard = int((d >= EDGE_STEP).sum())
    lum = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    second: list[np.ndarray] = []
    for lum_, sub in ((lum, subject), (lum.T, subject.T)):  # rows, then columns
        d1 = np.diff(lum_, axis=1)
        both = sub[:, 2:] & sub[:, 1:-1] & sub[:, :-2]
        a, b = d1[:, :-1][both], d1[:, 1:][both]
        smooth = (np.abs(a) < NOISE_STEP) & (np.abs(b) < NOISE_STEP)
        second.append(np.abs(b - a)[smooth])
    sec = np.concatenate(second)
    return ColourStats(
        backdrop=back_share, pixels=int(subject.sum()), texture=textured / d.size,
        edges=hard / max(1, hard + textured), zero=float((d == 0).mean()),
        noise=float(sec.mean()) if sec.size else 0.0)


# Thresholds, fitted on 1,090 labelled images of the installed packages (docs/photo_corpus.md).
MIN_PIXELS = 1000  # a subject this small (after the backdrop) says too little
MIN_NOISE = 1.8  # vector art and flat fills are noiseless; photos are not, even in smooth areas
MIN_TEXTURE = 0.35  # photos are textured almost everywhere; drawings are fills and outlines
MAX_EDGES = 0.4  # cartoons: most non-flat pairs are outlines
# Wallpapers: vector art there carries added grain, which passes the noise test, so a scene must
# be textured over most of its subject, as landscapes and close-ups of nature are.
SCENE_MIN_TEXTURE = 0.65
SCENE_MAX_BACKDROP = 0.85  # a wallpaper that is nearly all smooth gradient is a design, not a view


def is_photo(stats: ColourStats, scene: bool = False) -> bool:
    """The photo/drawing rule: a photo passes all four tests (thresholds above; a wallpaper, the
    stricter SCENE_MIN_TEXTURE and SCENE_MAX_BACKDROP). Photos carry sensor noise and texture over their whole subject;
    drawings and clip art are flat or smoothly shaded fills (no noise, little texture) between
    hard outlines."""
    return not reject_reason(stats, scene)


def reject_reason(stats: ColourStats, scene: bool = False) -> str:
    """The tests of ``is_photo`` that ``stats`` fails, for rejected.json ('' for a photo)."""
    fails = []
    if scene and stats.texture < SCENE_MIN_TEXTURE:
        fails.append(f"scene texture {stats.texture:.2f} < {SCENE_MIN_TEXTURE}")
    if scene and stats.backdrop > SCENE_MAX_BACKDROP:
        fails.append(f"scene backdrop {stats.backdrop:.2f} > {SCENE_MAX_BACKDROP}")
    if stats.pixels < MIN_PIXELS:
        fails.append(f"subject {stats.pixels} px < {MIN_PIXELS}")
    if stats.noise < MIN_NOISE:
        fails.append(f"noise {stats.noise:.2f} < {MIN_NOISE}")
    if stats.texture < MIN_TEXTURE:
        fails.append(f"texture {stats.texture:.2f} < {MIN_TEXTURE}")
    if stats.edges > MAX_EDGES:
        fails.append(f"edges {stats.edges:.2f} > {MAX_EDGES}")
    return "; ".join(fails)


# ---------------------------------------------------------------------------------------------
# Sources

@dataclass(frozen=True)
class Candidate:
    """One raster image of a source package."""

    source: str  # Debian package
    path: Path  # the file on disk (the .rcc bundle for gcompris)
    rel: str  # its path in the package's tree: the licence lookup and the output name use it
    inner: str | None = None  # path inside the .rcc bundle


def _files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES:
            yield p


def gather(roots: dict[str, Path] | None = None) -> tuple[list[Candidate], list[str]]:
    """(candidates, notes) from every source folder that exists; notes say what was skipped and why."""
    roots = SOURCE_ROOTS if roots is None else roots
    found: list[Candidate] = []
    notes: list[str] = []
    for source, root in roots.items():
        if not root.is_dir():
            notes.append(f"{source}: {root} not found (not installed?)")
            continue
        if any(root.glob("*.rcc")):
            found += _gather_rcc(source, root, notes)
            continue
        seen: set[Path] = set()
        for p in _files(root):
            rel = p.relative_to(root).as_posix()
            if source == "plasma-workspace-wallpapers" and p.stem == "screenshot":
                continue  # a thumbnail of the wallpaper beside it
            if rel.startswith("images/") and source == "qabcs-data":
                continue  # the program's own interface art
            real = p.resolve()
            if p.is_symlink() and real.is_relative_to(root.resolve()):
                continue  # plasma links small sizes to the large file, which is read itself
            if real in seen:
                continue
            seen.add(real)
            found.append(Candidate(source, p, rel))
    return found, notes


def _gather_rcc(source: str, root: Path, notes: list[str]) -> list[Candidate]:
    out: list[Candidate] = []
    zstd_skipped = 0
    for bundle in sorted(root.glob("*.rcc")):
        try:
            entries = RccFile(bundle).entries
        except (RccError, OSError) as exc:
            notes.append(f"{source}: skipped {exc}")
            continue
        for e in entries:
            if not e.path.lower().endswith(RASTER_SUFFIXES):
                continue
            if e.compression == "zstd" and not zstd_available():
                zstd_skipped += 1
                continue
            rel = e.path.split("/", 1)[1] if e.path.startswith("gcompris/") else e.path
            if rel.startswith(PAINTING_FOLDERS):
                continue
            out.append(Candidate(source, bundle, rel, e.path))
    if zstd_skipped:
        notes.append(f"{source}: skipped {zstd_skipped} zstd-compressed images "
                     "(the 'zstandard' module is not installed: pip install zstandard)")
    return out


class Reader:
    """Opens candidates; keeps each .rcc bundle parsed once."""

    def __init__(self) -> None:
        self._bundles: dict[Path, RccFile] = {}

    def bytes(self, c: Candidate) -> bytes:
        if c.inner is None:
            return c.path.read_bytes()
        bundle = self._bundles.get(c.path)
        if bundle is None:
            bundle = self._bundles[c.path] = RccFile(c.path)
        entry = next(e for e in bundle.entries if e.path == c.inner)
        return bundle.read(entry)

    def image(self, c: Candidate, draft: int = MAX_SIDE) -> Image.Image:
        img = Image.open(io.BytesIO(self.bytes(c)))
        img.draft("RGB", (draft, draft))  # JPEG only: decode at a reduced size when that is enough
        img = ImageOps.exif_transpose(img)
        img.load()
        return img


def prepare(img: Image.Image) -> tuple[Image.Image, bool]:
    """(image, is_cutout): RGBA cropped to its alpha when it has a real transparent surround,
    else RGB (transparency composited over white, as viewers show it)."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if not has_alpha:
        return img.convert("RGB"), False
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    box = Image.fromarray(((alpha > 16) * 255).astype(np.uint8)).getbbox()
    if box is None:
        return rgba.convert("RGB"), False
    clear = float((alpha[box[1]:box[3], box[0]:box[2]] < 128).mean())
    if clear >= CUTOUT_MIN_CLEAR:
        return rgba.crop(box), True
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB"), False


def dhash(img: Image.Image) -> int:
    """64-bit difference hash: a 9x8 greyscale copy, one bit per horizontal neighbour pair.
    Transparent pixels count as mid-grey, so a cut-out hashes by its shape and content."""
    if img.mode == "RGBA":
        grey = Image.new("RGBA", img.size, (128, 128, 128, 255))
        img = Image.alpha_composite(grey, img)
    small = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


# ---------------------------------------------------------------------------------------------
# Licences (Debian machine-readable copyright files, DEP-5)

IMAGE_EXT = re.compile(r"\.(png|jpe?g|webp|svg|gif)$", re.IGNORECASE)


def read_copyright(path: Path) -> list[tuple[tuple[str, ...], str]]:
    """The (Files patterns, License short name) paragraphs of a DEP-5 copyright file, in order."""
    rules: list[tuple[tuple[str, ...], str]] = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for para in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            licence = fields["license"].split("\n", 1)[0].strip()
            rules.append((tuple(fields["files"].split()), licence))
    return rules


def licence_for(rules: Sequence[tuple[tuple[str, ...], str]], rel: str) -> tuple[str, str]:
    """(licence, the Files pattern that gave it) for a file at ``rel`` in the package's tree.

    DEP-5: the last matching paragraph wins. Packagers often convert images (gcompris ships
    its .jpg photos as .webp), so a pattern naming another image extension matches too.
    No match: the package's main licence (its ``Files: *`` paragraph)."""
    found: tuple[str, str] | None = None
    bare = IMAGE_EXT.sub("", rel)
    for patterns, licence in rules:
        for pat in patterns:
            if fnmatch.fnmatchcase(rel, pat) or (IMAGE_EXT.search(pat) and fnmatch.fnmatchcase(
                    bare, IMAGE_EXT.sub("", pat))):
                found = (licence, pat)
    if found is not None:
        return found
    main = next((lic for pats, lic in rules if "*" in pats), rules[0][1] if rules else "unknown")
    return main, "*"


# ---------------------------------------------------------------------------------------------
# Building the corpus

KIND_FOLDERS = {"photo": "photos", "scene": "scenes", "cutout": "cutouts"}
OWN_ENTRIES = {"photos", "scenes", "cutouts", "train", "heldout", "manifest.json", "rejected.json"}
_BOILERPLATE = {"src", "activities", "resource", "resources", "images", "image", "contents", "pics", "abcs",
                "all", "stamps"}


@dataclass
class Item:
    cand: Candidate
    kind: str  # photo | cutout | scene
    width: int
    height: int
    stats: ColourStats
    hash: int
    name: str = ""
    split: str = "train"
    file: str = ""  # relative to OUT_DIR

    @property
    def key(self) -> tuple[str, str]:
        return self.cand.source, self.cand.rel


@dataclass
class CorpusSummary:
    out_dir: Path
    items: list[Item]
    rejected: list[dict[str, object]]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """{source: {kind: n}} of the kept images."""
        out: dict[str, dict[str, int]] = {}
        for it in self.items:
            per = out.setdefault(it.cand.source, {})
            per[it.kind] = per.get(it.kind, 0) + 1
        return out

    def line(self) -> str:
        total = {k: sum(1 for it in self.items if it.kind == k) for k in KIND_FOLDERS}
        held = sum(1 for it in self.items if it.split == "heldout")
        per = "; ".join(f"{src}: " + ", ".join(f"{n} {k}s" for k, n in sorted(kinds.items()))
                        for src, kinds in sorted(self.counts().items()))
        return (f"kept {len(self.items)} images ({total['photo']} photos, {total['scene']} scenes, "
                f"{total['cutout']} cutouts; {held} photos held out), rejected {len(self.rejected)} -- {per}")


def output_name(rel: str) -> str:
    """A file-name stem from a package path: folders that say nothing (src, resource, ...) dropped."""
    parts = [p for p in Path(rel).with_suffix("").parts if p.lower() not in _BOILERPLATE]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "_".join(parts) or Path(rel).stem).strip("-")


def heldout_key(source: str, name: str) -> float:
    """A file's place in [0, 1) for the hold-out rule: sha256 of 'source/name', never random state."""
    return int(hashlib.sha256(f"{source}/{name}".encode()).hexdigest()[:16], 16) / 16**16


def assign_splits(items: Sequence[Item]) -> None:
    """Hold out the full-frame photos whose key is below HELDOUT_FRACTION, topped up with the
    next-lowest keys to HELDOUT_MIN (to half the photos when there are fewer than twice that).
    Scenes and cut-outs always train. New photos never move an old one out of the hold-out unless
    it was a top-up."""
    photos = sorted((it for it in items if it.kind == "photo"), key=lambda it: heldout_key(it.cand.source, it.name))
    least = min(HELDOUT_MIN, len(photos) // 2)
    for rank, it in enumerate(photos):
        held = heldout_key(it.cand.source, it.name) < HELDOUT_FRACTION or rank < least
        it.split = "heldout" if held else "train"


def dedupe(items: list[Item]) -> tuple[list[Item], list[tuple[Item, Item]]]:
    """(kept, [(dropped, kept twin)]): images whose difference hashes differ in at most
    DHASH_BITS_DIFF bits form a group; its largest (most pixels, then first in path order) stays."""
    order = sorted(items, key=lambda it: (-it.width * it.height, it.key))
    kept: list[Item] = []
    dropped: list[tuple[Item, Item]] = []
    for it in order:
        twin = next((k for k in kept if bin(k.hash ^ it.hash).count("1") <= DHASH_BITS_DIFF), None)
        if twin is None:
            kept.append(it)
        else:
            dropped.append((it, twin))
    return sorted(kept, key=lambda it: it.key), dropped


def analyse(cands: Sequence[Candidate], reader: Reader, progress: bool = True
            ) -> tuple[list[Item], list[dict[str, object]]]:
    """(photo-like items, rejected records) of every candidate."""
    from tqdm import tqdm

    items: list[Item] = []
    rejected: list[dict[str, object]] = []
    for c in tqdm(cands, desc="analysing", unit="img", disable=not progress, file=sys.stderr):
        record: dict[str, object] = {"source": c.source, "original": str(c.path), "inner": c.inner}
        try:
            img, cutout = prepare(reader.image(c))
        except (OSError, ValueError, SyntaxError, RccError, Image.DecompressionBombError) as exc:
            rejected.append({**record, "reason": f"unreadable: {exc}"})
            continue
        if min(img.size) < MIN_SIDE:
            rejected.append({**record, "reason": f"too small: {img.width}x{img.height}"})
            continue
        stats = colour_stats(img)
        kind = "cutout" if cutout else "scene" if c.source in SCENE_SOURCES else "photo"
        if not is_photo(stats, scene=kind == "scene"):
            rejected.append({**record, "reason": "drawing: " + reject_reason(stats, kind == "scene"), "kind": kind,
                             "stats": asdict(stats)})
            continue
        items.append(Item(c, kind, img.width, img.height, stats, dhash(img)))
    return items, rejected


def check_out_dir(out_dir: Path) -> None:
    """CorpusError naming the path and the fix when OUT_DIR cannot be (re)written."""
    parent = out_dir.parent
    if not out_dir.exists():
        if not parent.is_dir():
            raise CorpusError(f"{parent}: folder not found. Create it first (mkdir -p {parent}) or choose "
                              "another OUT_DIR.")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise CorpusError(f"{parent}: not writable, so {out_dir.name} cannot be created there. Choose a "
                              "folder you can write to.")
        return
    if not out_dir.is_dir():
        raise CorpusError(f"{out_dir}: is a file, not a folder. Choose another OUT_DIR.")
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise CorpusError(f"{out_dir}: not writable. Fix its permissions (chmod u+w {out_dir}) or choose "
                          "another OUT_DIR.")
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in OWN_ENTRIES and not p.name.startswith("."))
    if foreign:
        raise CorpusError(f"{out_dir}: holds other files ({', '.join(foreign[:3])}); the corpus replaces its "
                          "folder's content. Choose an empty or new OUT_DIR.")


def _encode(img: Image.Image, kind: str) -> tuple[Image.Image, bytes]:
    if max(img.size) > MAX_SIDE:
        img = img.copy()
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if kind == "cutout":
        img.save(buf, format="PNG")
    else:
        img.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
    return img, buf.getvalue()


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a copy does as well
        shutil.copyfile(src, dst)


def write_corpus(out_dir: Path, items: list[Item], rejected: list[dict[str, object]], reader: Reader,
                 doc_root: Path = DOC_ROOT, progress: bool = True) -> Path:
    """Write the images, the train/ and heldout/ folders and the manifest; returns the manifest path."""
    from tqdm import tqdm

    for name in ("photos", "scenes", "cutouts", "train", "heldout"):
        shutil.rmtree(out_dir / name, ignore_errors=True)
    out_dir.mkdir(exist_ok=True)
    rules: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    entries = []
    for it in tqdm(items, desc="writing", unit="img", disable=not progress, file=sys.stderr):
        if it.cand.source not in rules:
            cr = doc_root / it.cand.source / "copyright"
            rules[it.cand.source] = read_copyright(cr) if cr.is_file() else []
        licence, rule = licence_for(rules[it.cand.source], it.cand.rel)
        img, _ = prepare(reader.image(it.cand))
        img, data = _encode(img, it.kind)
        ext = ".png" if it.kind == "cutout" else ".jpg"
        rel = Path(KIND_FOLDERS[it.kind]) / it.cand.source / f"{it.name}{ext}"
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out_dir / rel, data, durable=False)  # the manifest, written last, is the commit
        _link(out_dir / rel, out_dir / it.split / rel)
        it.file = rel.as_posix()
        entries.append({
            "file": it.file, "split": it.split, "kind": it.kind, "source": it.cand.source,
            "original": str(it.cand.path), "inner": it.cand.inner, "licence": licence,
            "licence_files": rule, "width": img.width, "height": img.height,
            "sha256": hashlib.sha256(data).hexdigest(),
        })
    manifest = {
        "format": FORMAT,
        "heldout_rule": f"full-frame photos whose key sha256('source/name') (first 64 bits / 2**64) is below "
                        f"{HELDOUT_FRACTION}, topped up by the lowest keys to {HELDOUT_MIN} (or half the photos)",
        "photo_rule": {"analysis_side": ANALYSIS_SIDE, "smooth_step": SMOOTH_STEP, "flat_step": FLAT_STEP,
                       "edge_step": EDGE_STEP, "noise_step": NOISE_STEP, "min_pixels": MIN_PIXELS,
                       "min_noise": MIN_NOISE, "min_texture": MIN_TEXTURE, "max_edges": MAX_EDGES,
                       "scene_min_texture": SCENE_MIN_TEXTURE, "scene_max_backdrop": SCENE_MAX_BACKDROP},
        "files": sorted(entries, key=lambda e: e["file"]),
    }
    path = out_dir / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "rejected.json", json.dumps(rejected, indent=1, ensure_ascii=False, default=str) + "\n")
    return path


def manifest_hash(out_dir: str | Path) -> str:
    """sha256 of OUT_DIR/manifest.json (which holds every written file's own sha256)."""
    return hashlib.sha256((Path(out_dir) / "manifest.json").read_bytes()).hexdigest()


def build_corpus(out_dir: str | Path, roots: dict[str, Path] | None = None, doc_root: Path = DOC_ROOT,
                 progress: bool = True) -> CorpusSummary:
    """Gather, classify, deduplicate, split and write the corpus (see the module docstring)."""
    out = Path(out_dir).absolute()
    check_out_dir(out)
    cands, notes = gather(roots)
    if not cands:
        looked = ", ".join(str(p) for p in (roots or SOURCE_ROOTS).values())
        raise CorpusError(f"no source images found (looked in {looked}). Install the packages with: {APT_HINT}")
    reader = Reader()
    found, rejected = analyse(cands, reader, progress)
    kept, dropped = dedupe(found)
    for it, twin in dropped:
        rejected.append({"source": it.cand.source, "original": str(it.cand.path), "inner": it.cand.inner,
                         "reason": f"duplicate of {twin.cand.source}:{twin.cand.inner or twin.cand.path}",
                         "kind": it.kind})
    used: set[tuple[str, str, str]] = set()
    for it in kept:
        base = output_name(it.cand.rel)
        name, k = base, 2
        while (it.kind, it.cand.source, name.lower()) in used:
            name, k = f"{base}-{k}", k + 1
        used.add((it.kind, it.cand.source, name.lower()))
        it.name = name
    assign_splits(kept)
    write_corpus(out, kept, rejected, reader, doc_root, progress)
    return CorpusSummary(out, kept, rejected, notes)


def _parse_root(text: str) -> tuple[str, Path]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--root takes PACKAGE=FOLDER, not {text!r}")
    name, folder = text.split("=", 1)
    return name, Path(folder)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m l2r_training.photo_corpus",
                                 description="Build the offline photo corpus from installed Debian packages.")
    ap.add_argument("out_dir", help="folder to write (created; its parent must exist)")
    ap.add_argument("--root", action="append", type=_parse_root, default=[], metavar="PACKAGE=FOLDER",
                    help="read PACKAGE from FOLDER instead of its Debian path (repeatable; only these are read)")
    ap.add_argument("--doc-root", type=Path, default=DOC_ROOT, help="where <package>/copyright files live")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    roots = dict(args.root) if args.root else None
    try:
        summary = build_corpus(args.out_dir, roots, args.doc_root, progress=not args.quiet)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    print(summary.line())
    print(f"manifest sha256: {manifest_hash(summary.out_dir)}  ({summary.out_dir / 'manifest.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
