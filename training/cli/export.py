"""`l2r export IMAGES_DIR --out OUT_DIR`: maps, overlays, metrics.csv, manifest.json, report.html.

Rerunning the same command resumes (finished (image, method) pairs are skipped). Shards:
`--shard i/n` (or RANK/WORLD_SIZE under torchrun) take every n-th image of the sorted list;
each shard rebuilds metrics.csv/report.html/manifest.json from all items present when it ends
(under a file lock), so the last shard to finish writes the complete summary. `--merge-only`
rebuilds them without computing anything (e.g. after shards on several machines).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, TextIO

from l2r_core.errors import ConfigError, ImageLoadError, L2RError
from l2r_core.metrics.protocols import PROTOCOLS

from .common import add_image_args, add_model_args, load_from_args, resolve_device


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export maps, overlays, a metrics table and a report for a folder",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="?", metavar="IMAGES_DIR", help="folder of images")
    p.add_argument("--out", required=True, help="output folder (created; rerun into it to resume)")
    add_model_args(p)
    add_image_args(p)
    p.add_argument("--methods", help="comma-separated: l2r, l2r-refine, gradcam, ig, rise, rollout, gae "
                                     "(default: l2r if an explainer is available, else gradcam; rise for ONNX)")
    p.add_argument("--protocol", default="aha", choices=sorted(PROTOCOLS), help="deletion/insertion protocol")
    p.add_argument("--refine-steps", type=int, help="refinement steps for l2r-refine")
    p.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="a method option, e.g. rise.n_masks=500 (repeatable)")
    p.add_argument("--recursive", action="store_true", help="include images in subfolders")
    p.add_argument("--shard", help="I/N: do only images with index %% N == I (default: RANK/WORLD_SIZE or 0/1)")
    p.add_argument("--force", action="store_true",
                   help="OUT holds results of another model/explainer/protocol: delete them instead of refusing")
    p.add_argument("--retry-errors", action="store_true", help="explain again images that failed before")
    p.add_argument("--curves-png", action="store_true", help="also draw each deletion/insertion curve as a PNG")
    p.add_argument("--batch-limit", type=int, default=32, help="images per model call inside a method")
    p.add_argument("--merge-only", action="store_true", help="only rebuild metrics.csv, report.html, manifest.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_method_options(items: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise ConfigError(f"--option {item}: expected METHOD.KEY=VALUE, e.g. rise.n_masks=500")
        out.setdefault(method, {})[name] = _value(value)
    return out


class ProgressBar:
    """A Progress for the terminal: images done, images/s over the recent steps, ETA (stderr)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True, every_s: float = 10.0) -> None:
        self.stream, self.enabled = stream or sys.stderr, enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = 0.1 if self.tty else every_s  # a log file gets a line every 10 s
        self.recent: deque[tuple[float, int]] = deque(maxlen=20)
        self.last_print = 0.0
        self.cancelled = False

    def line(self, done: int, total: int, message: str) -> str:
        rate = 0.0
        if len(self.recent) > 1:
            (t0, d0), (t1, d1) = self.recent[0], self.recent[-1]
            rate = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
        eta = f"{int((total - done) / rate) // 60}:{int((total - done) / rate) % 60:02d}" if rate > 0 else "?"
        width = 24
        fill = int(width * done / total) if total else width
        return (f"export {done}/{total} [{'#' * fill}{'.' * (width - fill)}] {rate:.2f} img/s ETA {eta} "
                f"{message[-40:]}")

    def step(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        self.recent.append((now, done))
        if not self.enabled or (now - self.last_print < self.every_s and done < total):
            return
        self.last_print = now
        text = self.line(done, total, message)
        if self.tty:
            self.stream.write("\r" + text[:120].ljust(120) + ("\n" if done >= total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _shard(args: argparse.Namespace) -> tuple[int, int]:
    from l2r_core.batch import env_shard, parse_shard

    return parse_shard(args.shard) if args.shard else env_shard()


def _device_for_rank(args: argparse.Namespace) -> None:
    """Under torchrun each process takes its own GPU (LOCAL_RANK)."""
    if args.device == "auto" and int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ:
        if resolve_device("auto") == "cuda":
            args.device = f"cuda:{int(os.environ['LOCAL_RANK'])}"


def _export(args: argparse.Namespace) -> int:
    from l2r_core.batch import ExportOptions, export_folder, rebuild_outputs

    out = Path(args.out)
    if args.merge_only:
        manifest = rebuild_outputs(out)
        print(f"rebuilt {out / 'metrics.csv'} and {out / 'report.html'} from {manifest['counts']['results']} "
              f"results", file=sys.stderr)
        return 0
    if not args.images:
        raise ConfigError("give the folder of images: l2r export IMAGES_DIR --out OUT_DIR")
    if not Path(args.images).is_dir():
        raise ImageLoadError(f"{args.images}: not a folder. Give a folder of images.")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    shard = _shard(args)
    _device_for_rank(args)
    loaded = load_from_args(args, need_explainer=bool(methods and any(m.startswith("l2r") for m in methods)))
    source = args.explainer
    if source is None and loaded.explainer is not None:
        from l2r_core.models.demo import demo_explainer_dir

        source = str(demo_explainer_dir(args.model))
    options = ExportOptions(
        Path(args.images), out, methods, args.protocol, args.recursive, shard, args.force, args.curves_png,
        args.retry_errors, args.refine_steps, parse_method_options(args.option), args.batch_limit, source,
        args.max_pixels)
    bar = ProgressBar(enabled=not args.quiet)
    s = export_folder(loaded.model, options, loaded.explainer, bar)
    shard_text = f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""
    print(f"exported {s.images} images{shard_text} x {', '.join(s.methods) or 'no methods'}: {s.computed} computed, "
          f"{s.skipped} already done, {s.errors} errors, {s.seconds:.1f} s -> {s.report}", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Exit status: 0 done, 2 user error (one line on stderr), 130 interrupted (rerun resumes)."""
    try:
        return _export(args)
    except L2RError as exc:
        print(f"l2r: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nl2r: interrupted; rerun the same command to finish the export into {args.out}", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="l2r")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_export_parser(sub)
    args = parser.parse_args(["export", *(sys.argv[1:] if argv is None else argv)])
    return run_export(args)


if __name__ == "__main__":
    sys.exit(main())
