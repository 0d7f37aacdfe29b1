"""File > Save current result: the shown map, its pictures, its curves and what produced them,
written into one folder. Plain functions (no Qt); every file is written atomically, so a crash or
a full disk never leaves a half-written file beside good ones."""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from l2r_core.atomic import atomic_save_npy, atomic_save_png, atomic_write_text
from l2r_core.errors import L2RError
from l2r_core.batch.options import recorded_options
from l2r_core.batch.render import curves_image
from l2r_core.metrics.hard import Curves
from l2r_core.render import HIGH_PERCENTILE, LOW_PERCENTILE, colorize, overlay

from .viewmodels.state import ImageState, MethodResult

# What each saved file holds -> its name suffix (after "<image stem>_<method>").
SUFFIXES = {
    "map_npy": "_map.npy",
    "overlay_png": "_overlay.png",
    "map_png": "_map.png",
    "curves_csv": "_curves.csv",
    "curves_png": "_curves.png",
    "json": "_result.json",
}


class SaveError(L2RError):
    """A result file could not be written (the message names the file and the fix)."""


@dataclass(frozen=True)
class ResultRecord:
    """Everything the window shows for one image and method, as plain data."""

    image_path: Path
    display: np.ndarray  # (H,W,3) uint8: the picture the map aligns with (what the model saw)
    raw: np.ndarray  # (H,W) float32: the method's own values
    curves: Curves | None
    method: str
    method_title: str
    target: int
    target_name: str
    model_name: str
    model_spec: str
    explainer: str = ""
    protocol: str = ""
    colormap: str = "inferno"
    alpha: float = 0.5  # overlay opacity, as on screen
    method_options: dict[str, Any] = field(default_factory=dict)  # every option the map was made with


def record_for(image: ImageState, result: MethodResult, loaded: Any, protocol: str, colormap: str,
               alpha: float) -> ResultRecord:
    """The record of one shown result; ``loaded`` is the window's ``jobs.LoadedModel``."""
    return ResultRecord(image.path, image.display, result.raw, result.curves, result.key, result.title,
                        image.target, image.target_name, loaded.model.name, loaded.spec,
                        loaded.explainer_path or "", protocol, colormap, alpha,
                        recorded_options(result.key, result.options))


def file_names(record: ResultRecord) -> dict[str, str]:
    """File name per kind: ``<image stem>_<method><suffix>``."""
    base = f"{Path(record.image_path).stem}_{record.method}"
    return {kind: base + suffix for kind, suffix in SUFFIXES.items()}


def overlay_picture(record: ResultRecord) -> Image.Image:
    """The colour-mapped map blended over the picture, with the screen's colour map and opacity."""
    return overlay(Image.fromarray(np.asarray(record.display, dtype=np.uint8)), record.raw, record.alpha,
                   record.colormap)


def map_picture(record: ResultRecord) -> Image.Image:
    return colorize(record.raw, record.colormap)


def curves_csv(curves: Curves) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["fraction", "deletion", "insertion"])
    for f, d, i in zip(curves.fractions, curves.deletion, curves.insertion):
        writer.writerow([repr(float(f)), repr(float(d)), repr(float(i))])
    return buf.getvalue()


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no NaN


def metadata(record: ResultRecord) -> dict[str, Any]:
    """The JSON sidecar: which model, method, options and class produced the map, and its AUCs."""
    curves = record.curves
    return {
        "image": str(record.image_path),
        "model": {"name": record.model_name, "spec": record.model_spec, "explainer": record.explainer},
        "method": {"name": record.method, "title": record.method_title},
        "method_options": dict(record.method_options),  # the user's choices with the defaults filled in
        "options": {"protocol": curves.protocol if curves is not None else record.protocol,
                    "colormap": record.colormap, "overlay_alpha": record.alpha,
                    "normalisation": f"percentiles {LOW_PERCENTILE:g}-{HIGH_PERCENTILE:g}"},
        "target": {"index": int(record.target), "name": record.target_name},
        "deletion_auc": _finite(curves.deletion_auc) if curves is not None else None,
        "insertion_auc": _finite(curves.insertion_auc) if curves is not None else None,
        "files": file_names(record),
    }


def _write(path: Path, write: Callable[[], object]) -> Path:
    try:
        write()
    except OSError as exc:
        raise SaveError(f"{path}: cannot be written ({exc.strerror or exc}). Fix: choose a folder you can "
                        f"write to and that has free space, then save again.") from exc
    return path


def save_result(record: ResultRecord, folder: str | Path) -> list[Path]:
    """Write the six files of ``record`` into ``folder`` (created if needed); returns their paths."""
    curves = record.curves
    if curves is None:
        raise SaveError(f"{Path(record.image_path).name}: the curves of {record.method_title} are not "
                        f"computed yet. Wait until they are shown, then save again.")
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SaveError(f"{out}: the folder cannot be created ({exc.strerror or exc}). Fix: choose another "
                        f"folder.") from exc
    names = file_names(record)
    path = {kind: out / name for kind, name in names.items()}
    text = json.dumps(metadata(record), indent=2, allow_nan=False) + "\n"
    return [
        _write(path["map_npy"], lambda: atomic_save_npy(path["map_npy"], np.asarray(record.raw))),
        _write(path["overlay_png"], lambda: atomic_save_png(path["overlay_png"], overlay_picture(record))),
        _write(path["map_png"], lambda: atomic_save_png(path["map_png"], map_picture(record))),
        _write(path["curves_csv"], lambda: atomic_write_text(path["curves_csv"], curves_csv(curves))),
        _write(path["curves_png"], lambda: atomic_save_png(path["curves_png"], curves_image(curves.row()))),
        _write(path["json"], lambda: atomic_write_text(path["json"], text)),
    ]
