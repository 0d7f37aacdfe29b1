"""Export overhead: `export_folder` vs the bare loop of pipeline calls over the same images.

Run: .venv/bin/python benchmarks/bench_export.py [--images 10] [--repeats 3] [--methods gradcam,ig,rise,l2r]

The bare loop does what any script must do per image: read the file, prepare, predict, and
`pipeline.explain` with the `aha` deletion/insertion metrics. The export adds listing and
resume checks, the .npy map, the overlay PNG, one item JSON, and at the end metrics.csv,
manifest.json and report.html. Both run in the same process, alternating, on the demo CNN
(EfficientNet-Lite0, 224 px) with photos from skimage.data; each export goes into a fresh
folder. Printed: median seconds of each, the overhead ratio (target: at most 1.10 for
gradcam) and images/s per method. On a busy machine the two totals drift apart by more than the
overhead itself, so the export is also timed from the inside: the time spent in the same
pipeline calls as the bare loop (load, prepare, predict, explain) is summed during the export
run, and the rest of the export's wall time is its own overhead ("in-run overhead").
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from l2r_core.batch import ExportOptions, export_folder
from l2r_core.images import list_images, load_image
from l2r_core.models.loading import load_model
from l2r_core.pipeline import explain, prepare, top_predictions

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "hubble_deep_field", "immunohistochemistry",
          "coins", "colorwheel", "cat", "brick", "gravel", "moon", "page")
OPTIONS = {"rise": {"n_masks": 500}, "ig": {"steps": 16}}


def write_photos(folder: Path, n: int, side: int = 320) -> None:
    import skimage.data

    done = 0
    for name in PHOTOS:
        if done == n:
            break
        try:
            arr = np.asarray(getattr(skimage.data, name)())
        except Exception:  # noqa: BLE001 - a data file that is not bundled
            continue
        img = Image.fromarray(arr.astype(np.uint8)).convert("RGB")
        img.thumbnail((side * 2, side))
        img.save(folder / f"{done:02d}_{name}.jpg", quality=92)
        done += 1


def bare_loop(model, images: list[Path], method: str, opts: dict) -> None:
    for p in images:
        prep = prepare(model, load_image(p))
        top = top_predictions(model, prep.x, 1)[0]
        explain(model, prep.x, method, top.index, **opts).curves("aha")


class _Timed:
    """Wraps the pipeline calls the export makes, summing their time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.saved: dict[str, object] = {}

    def __enter__(self) -> "_Timed":
        from l2r_core.batch import run as run_module

        for name in ("load_image", "prepare", "top_predictions", "explain"):
            fn = self.saved[name] = getattr(run_module, name)
            setattr(run_module, name, self._wrap(fn))
        return self

    def _wrap(self, fn):
        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds += time.perf_counter() - t
        return timed

    def __exit__(self, *exc: object) -> None:
        from l2r_core.batch import run as run_module

        for name, fn in self.saved.items():
            setattr(run_module, name, fn)


def run_export(model, folder: Path, method: str, opts: dict, explainer) -> tuple[float, float]:
    """(wall seconds, seconds outside the pipeline calls) of one export into a fresh folder."""
    out = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        with _Timed() as timed:
            start = time.perf_counter()
            s = export_folder(model, ExportOptions(folder, out, methods=[method], method_options=(
                {method: {k: v for k, v in opts.items() if k != "explainer"}} if method in OPTIONS else {})),
                explainer=explainer)
            seconds = time.perf_counter() - start
        assert s.errors == 0 and s.computed == len(list_images(folder)), s
        return seconds, seconds - timed.seconds
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _subset_folder(paths: list[Path]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bench-subset-"))
    for p in paths:
        shutil.copy2(p, folder / p.name)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", default="gradcam,ig,rise,l2r")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--slow-images", type=int, default=3, help="photos for ig and rise (slow on a CPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model("demo-cnn")
    explainer = None
    from l2r_core.models.demo import demo_explainer_dir

    folder_e = demo_explainer_dir("demo-cnn")
    if folder_e is not None:
        from l2r_core.explainer import load_explainer

        explainer = load_explainer(folder_e, model)
    folder = Path(tempfile.mkdtemp(prefix="bench-photos-"))
    write_photos(folder, args.images)
    images = list_images(folder)
    print(f"demo-cnn, {len(images)} photos, torch threads {torch.get_num_threads()}, protocol aha")
    for method in [m for m in args.methods.split(",") if m]:
        if method.startswith("l2r") and explainer is None:
            print(f"{method:8s} skipped: no bundled demo explainer yet (resources/demo_cnn_explainer)")
            continue
        opts = dict(OPTIONS.get(method, {}))
        if method.startswith("l2r"):
            opts["explainer"] = explainer
        subset = images if method in ("gradcam", "l2r") else images[: args.slow_images]
        sub_folder = folder if len(subset) == len(images) else _subset_folder(subset)
        bare_loop(model, subset[:1], method, opts)  # warm-up (first-call set-up, caches)
        bare, exp, own = [], [], []
        for rep in range(args.repeats):
            for which in (("bare", "export") if rep % 2 == 0 else ("export", "bare")):  # alternate the order
                if which == "bare":
                    t = time.perf_counter()
                    bare_loop(model, subset, method, opts)
                    bare.append(time.perf_counter() - t)
                else:
                    e_s, o_s = run_export(model, sub_folder, method, opts, explainer)
                    exp.append(e_s)
                    own.append(o_s)
        b, e, o = statistics.median(bare), statistics.median(exp), statistics.median(own)
        print(f"{method:8s} {len(subset):2d} images  bare {b:7.2f} s  export {e:7.2f} s  ratio {e / b:5.3f}  "
              f"in-run overhead {o:5.2f} s = {100 * o / max(e - o, 1e-9):4.1f}%  "
              f"{len(subset) / e:6.2f} img/s (export)  {len(subset) / b:6.2f} img/s (bare)  "
              f"options {OPTIONS.get(method, {})}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
