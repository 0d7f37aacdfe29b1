"""Batch export of a folder: the long job, a plain generator taking a Progress (no Qt).

``iter_export`` yields one ``ItemResult`` per (image, method) of this shard, computed or
skipped because an earlier run finished it. Each result is committed by writing its item JSON
last, so a kill loses at most the item in flight. When the generator ends (finished,
cancelled, interrupted, or closed early) the CSV, manifest and report are rebuilt from all the
items in the folder, under a lock; the last shard to finish therefore sees every shard's items.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import Cancelled, ImageLoadError, L2RError
from ..images import IMAGE_SUFFIXES, get_max_pixels, load_image
from ..models.adapter import ModelAdapter
from ..pipeline import explain, prepare, top_predictions
from ..progress import CancelOnly, Progress, ensure_progress
from .flags import border_fraction
from .options import ExportOptions, build_identity, call_options, now_iso, resolve_methods
from .outputs import rebuild_outputs
from .plan import ImageEntry, ItemPaths, list_entries, shard_entries
from .render import curves_image, overlay_image
from .state import claim_folder, item_is_done, read_item, state_lock, write_item, write_run_record
from .writer import ExportWriteError, ensure_writable, remove_stale_temps, write_npy, write_png

# Per-item failures that become an error row; anything else is a bug and stops the run.
ITEM_ERRORS = (L2RError, RuntimeError, ValueError, OSError)


@dataclass
class ItemResult:
    image: str
    method: str
    status: str  # "ok" or "error: reason"
    computed: bool  # False: finished by an earlier run and skipped
    data: dict[str, Any]


@dataclass
class ExportSummary:
    out_dir: Path
    methods: list[str]
    images: int  # images in this shard
    computed: int
    skipped: int
    errors: int
    seconds: float
    cancelled: bool = False

    @property
    def report(self) -> Path:
        return self.out_dir / "report.html"


def _error_item(entry: ImageEntry, method: str, reason: str, base: dict[str, Any], protocol: str) -> dict[str, Any]:
    return {**base, "image": entry.rel, "method": method, "source": entry.signature, "protocol": protocol,
            "status": "error: " + " ".join(reason.split())}


def _compute_item(model: ModelAdapter, prep: Any, top: Any, entry: ImageEntry, method: str,
                  paths: ItemPaths, opts: dict[str, Any], options: ExportOptions, base: dict[str, Any],
                  progress: Progress) -> dict[str, Any]:
    start = time.perf_counter()
    exp = explain(model, prep, method, top.index, batch_limit=options.batch_limit,
                  progress=CancelOnly(progress), **opts)
    c = exp.curves(options.protocol, batch_limit=options.batch_limit * 2, progress=CancelOnly(progress)) \
        if options.protocol else None
    total_s = time.perf_counter() - start
    curves = c.row() if c is not None else None
    write_npy(paths.path(paths.map_rel), exp.map, folder=paths.out)
    write_png(paths.path(paths.overlay_rel), overlay_image(prep.display, exp.map), folder=paths.out)
    data = {**base, "image": entry.rel, "method": method, "source": entry.signature, "status": "ok",
            "protocol": c.protocol if c is not None else options.protocol,
            "target_class": exp.target, "target_name": model.class_names[exp.target],
            "deletion_auc": curves["deletion_auc"] if curves else None,
            "insertion_auc": curves["insertion_auc"] if curves else None,
            "curves": curves, "seconds": exp.seconds, "metric_seconds": total_s - exp.seconds,
            "border_fraction": _finite_or_none(border_fraction(exp.map)),
            "map": paths.map_rel, "overlay": paths.overlay_rel, "curves_png": None,
            "options": exp.options, "warnings": list(c.warnings) if c is not None else []}
    if options.curves_png and curves is not None:
        write_png(paths.path(paths.curves_rel), curves_image(curves), folder=paths.out)
        data["curves_png"] = paths.curves_rel
    return data


def _finite_or_none(v: float) -> float | None:
    return v if v == v and abs(v) != float("inf") else None


def _add_missing_curves(paths: ItemPaths, data: dict[str, Any]) -> None:
    """A finished item gets its curves PNG from the stored curves, without recomputing."""
    if data.get("status") != "ok" or not data.get("curves"):
        return
    if data.get("curves_png") and paths.path(data["curves_png"]).is_file():
        return
    write_png(paths.path(paths.curves_rel), curves_image(data["curves"]), folder=paths.out)
    write_item(paths, {**data, "curves_png": paths.curves_rel})


def _process_image(model: ModelAdapter, explainer: Any, entry: ImageEntry, todo: list[str],
                   options: ExportOptions, progress: Progress) -> Iterator[ItemResult]:
    out = Path(options.out_dir)
    base: dict[str, Any] = {}
    prep = top = None
    try:
        prep = prepare(model, load_image(entry.path, max_pixels=options.max_pixels))
        top = top_predictions(model, prep.x, 1)[0]
        base = {"predicted_class": top.index, "predicted_name": top.name, "probability": top.probability}
    except ITEM_ERRORS as exc:
        reason = str(exc) if isinstance(exc, ImageLoadError) else f"{type(exc).__name__}: {exc}"
        # the limit it was read under: a rerun with a higher --max-pixels tries it again
        limit = {"max_pixels": _limit(options)} if isinstance(exc, ImageLoadError) else {}
        for method in todo:
            paths = ItemPaths(out, entry.rel, method)
            data = _error_item(entry, method, reason, limit, options.protocol)
            write_item(paths, data)
            yield ItemResult(entry.rel, method, data["status"], True, data)
        return
    for method in todo:
        paths = ItemPaths(out, entry.rel, method)
        try:
            data = _compute_item(model, prep, top, entry, method, paths, call_options(method, explainer, options),
                                 options, base, progress)
        except (Cancelled, ExportWriteError):
            raise
        except ITEM_ERRORS as exc:
            data = _error_item(entry, method, str(exc) if isinstance(exc, L2RError) else
                               f"{type(exc).__name__}: {exc}", base, options.protocol)
        if progress.cancelled:  # stop now; the in-flight item is redone next time
            raise Cancelled()
        write_item(paths, data)
        yield ItemResult(entry.rel, method, data["status"], True, data)


def _limit(options: ExportOptions) -> int:
    return options.max_pixels if options.max_pixels is not None else get_max_pixels()


def _pending(entries: list[ImageEntry], methods: list[str], options: ExportOptions
             ) -> Iterator[tuple[ImageEntry, list[str], list[ItemResult]]]:
    """Per image: the methods still to compute, and results of those already done."""
    out, limit = Path(options.out_dir), _limit(options)
    for entry in entries:
        todo, done = [], []
        for method in methods:
            paths = ItemPaths(out, entry.rel, method)
            data = read_item(paths)
            raised = bool(data) and data.get("max_pixels", limit) < limit
            if item_is_done(paths, entry, data) and not raised \
                    and not (options.retry_errors and data["status"] != "ok"):
                if options.curves_png:
                    _add_missing_curves(paths, data)
                done.append(ItemResult(entry.rel, method, data["status"], False, data))
            else:
                todo.append(method)
        yield entry, todo, done


def iter_export(model: ModelAdapter, options: ExportOptions, explainer: Any | None = None,
                progress: Progress | None = None) -> Iterator[ItemResult]:
    """Export this shard of ``options.images_dir`` into ``options.out_dir``; see the module doc.

    ``progress.step(done, total, image)`` counts images of this shard (skipped ones included),
    and raises Cancelled to stop; the job then ends cleanly after rebuilding the outputs."""
    progress = ensure_progress(progress)
    out = Path(options.out_dir)
    methods = resolve_methods(model, explainer, options)
    everything = list_entries(Path(options.images_dir), options.recursive, out)
    if not everything:
        hint = "" if options.recursive else " (add --recursive to include subfolders)"
        raise ImageLoadError(f"{options.images_dir}: no images found{hint}. Supported: {', '.join(IMAGE_SUFFIXES)}.")
    entries = shard_entries(everything, options.shard)
    ensure_writable(out)
    remove_stale_temps(out)
    identity = build_identity(model, explainer, options, methods)
    with state_lock(out):
        claim_folder(out, identity, options.force)
    # unique even for two runs of one process within a second (shards run back to back)
    run_name = f"{time.strftime('%Y%m%dT%H%M%S')}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    record = {"started": now_iso(), "finished": None, "status": "running", "shard": list(options.shard),
              "host": socket.gethostname(), "pid": os.getpid(), "methods": methods, "images": len(entries),
              "computed": 0, "skipped": 0, "versions": identity["versions"]}
    write_run_record(out, run_name, record)
    status, write_failed = "failed", False
    try:
        progress.step(0, len(entries), "")
        for k, (entry, todo, done) in enumerate(_pending(entries, methods, options)):
            yield from done
            record["skipped"] += len(done)
            for result in _process_image(model, explainer, entry, todo, options, progress):
                record["computed"] += 1
                yield result
            progress.step(k + 1, len(entries), entry.rel)
        status = "finished"
    except Cancelled:
        status = "cancelled"
        raise
    except ExportWriteError:
        write_failed = True  # the disk is full or gone: writing more would fail again
        raise
    except GeneratorExit:
        status = "closed"
        raise
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if not write_failed:
            record.update(finished=now_iso(), status=status)
            write_run_record(out, run_name, record)
            rebuild_outputs(out)


def export_folder(model: ModelAdapter, options: ExportOptions, explainer: Any | None = None,
                  progress: Progress | None = None,
                  on_item: Callable[[ItemResult], None] | None = None) -> ExportSummary:
    """Run ``iter_export`` to the end. Returns the summary; a cancel is reported in it
    (``cancelled=True``) rather than raised, after the outputs are rebuilt."""
    start = time.perf_counter()
    computed = skipped = errors = 0
    methods: set[str] = set()
    images: set[str] = set()
    cancelled = False
    try:
        for r in iter_export(model, options, explainer, progress):
            computed += r.computed
            skipped += not r.computed
            errors += r.status != "ok"
            methods.add(r.method)
            images.add(r.image)
            if on_item is not None:
                on_item(r)
    except Cancelled:
        cancelled = True
    return ExportSummary(Path(options.out_dir), sorted(methods), len(images), computed, skipped, errors,
                         time.perf_counter() - start, cancelled)
