"""`l2r evaluate`: deletion/insertion AUCs per image and method under a named protocol."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from l2r_core.atomic import atomic_write_text
from l2r_core.errors import ConfigError, ImageLoadError
from l2r_core.images import is_image_file, list_images, load_image
from l2r_core.metrics.protocols import PROTOCOLS, get_protocol
from l2r_core.pipeline import explain, prepare
from l2r_core.versions import package_versions

from ..metrics_log import json_safe
from .common import Loaded, add_image_args, add_model_args, load_from_args, method_options
from .portable import portable


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score methods with deletion/insertion AUCs under a named protocol")
    p.add_argument("inputs", nargs="+", help="image files and/or folders")
    add_model_args(p)
    add_image_args(p)
    p.add_argument("--methods", default="l2r,gradcam", help="comma-separated method names")
    p.add_argument("--protocol", default="aha", choices=sorted(PROTOCOLS))
    p.add_argument("--refine-steps", type=int, help="refinement steps for l2r-refine")
    p.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="a method option, e.g. rise.n_masks=500 (repeatable)")
    p.add_argument("--limit", type=int, help="evaluate at most this many images")
    p.add_argument("--json", help="write per-image results and the protocol definition here")


def collect_images(inputs: list[str], limit: int | None = None) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += list_images(p, recursive=True)
        elif p.is_file() and is_image_file(p):
            files.append(p)
        else:
            raise ImageLoadError(f"{p}: not an image file or folder. Check the path.")
    if not files:
        raise ImageLoadError(f"no images found in {', '.join(inputs)}. Give image files or folders.")
    return files[:limit] if limit else files


def evaluate(loaded: Loaded, images: list[Path], methods: list[str], protocol: str,
             refine_steps: int | None = None, show_progress: bool = True,
             extra: dict[str, dict[str, Any]] | None = None, max_pixels: int | None = None) -> list[dict[str, Any]]:
    from tqdm import tqdm

    opts = {m: {**method_options(m, loaded, refine_steps), **(extra or {}).get(m, {})} for m in methods}
    fingerprint = None if loaded.explainer is None else str(loaded.explainer.fingerprint)
    rows: list[dict[str, Any]] = []
    bar = tqdm(images, unit="img", disable=not show_progress, file=sys.stderr)
    for path in bar:
        try:
            prep = prepare(loaded.model, load_image(path, max_pixels=max_pixels))
        except ImageLoadError as exc:
            rows.append({"image": str(path), "status": f"error: {exc}"})
            continue
        for m in methods:
            start = time.perf_counter()
            exp = explain(loaded.model, prep, m, **opts[m])
            c = exp.curves(protocol)
            row = {"image": str(path), "method": m, "target": exp.target,
                   "deletion_auc": c.deletion_auc, "insertion_auc": c.insertion_auc,
                   "explain_seconds": exp.seconds, "seconds": time.perf_counter() - start,
                   "protocol": protocol, "status": "ok", "warnings": list(c.warnings),
                   "explainer": fingerprint if m.startswith("l2r") else None}
            if c.warnings:
                row["status"] = "warning: " + "; ".join(c.warnings)
                print(f"l2r: warning: {path} ({m}): {'; '.join(c.warnings)}", file=sys.stderr)
            rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    out = []
    for m in methods:
        r = [x for x in rows if x.get("method") == m and math.isfinite(x["deletion_auc"])]
        if r:
            out.append({"method": m, "images": len(r),
                        "deletion_auc": sum(x["deletion_auc"] for x in r) / len(r),
                        "insertion_auc": sum(x["insertion_auc"] for x in r) / len(r),
                        "explain_seconds": sum(x["explain_seconds"] for x in r) / len(r)})
    return out


def print_table(summary: list[dict[str, Any]], protocol: str) -> None:
    print(f"protocol: {protocol} (deletion: lower is better, insertion: higher is better)")
    print(f"{'method':<12} {'images':>6} {'deletion':>9} {'insertion':>9} {'s/image':>8}")
    for s in summary:
        print(f"{s['method']:<12} {s['images']:>6} {s['deletion_auc']:>9.4f} {s['insertion_auc']:>9.4f} "
              f"{s['explain_seconds']:>8.3f}")


def run_evaluate(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods is empty. Name at least one method, e.g. --methods l2r,gradcam")
    if args.json:  # fail before the long evaluation, not after it
        out = Path(args.json)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{out}: cannot create its folder ({exc.strerror}). Choose a writable --json path.") from None
    loaded = load_from_args(args, need_explainer=any(m.startswith("l2r") for m in methods))
    images = collect_images(args.inputs, args.limit)
    from .export import parse_method_options

    rows = evaluate(loaded, images, methods, args.protocol, args.refine_steps,
                    extra=parse_method_options(args.option), max_pixels=args.max_pixels)
    summary = summarize(rows, methods)
    print_table(summary, args.protocol)
    if args.json:
        doc = {"protocol": get_protocol(args.protocol).to_dict(), "model": loaded.model.describe(),
               "explainer": getattr(loaded.explainer, "describe", lambda: None)(),
               "methods": methods, "method_options": args.option, "summary": summary, "results": rows, "versions": package_versions()}
        # strict JSON: a NaN score (a model that returned NaN) is written as null
        doc = portable(json_safe(doc), args.inputs)  # the file travels: no path of this machine in it
        atomic_write_text(args.json, json.dumps(doc, indent=2, default=str, allow_nan=False))
    return 0
