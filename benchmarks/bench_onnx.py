"""onnxruntime vs torch: time per explanation on the CPU, 1 thread each, same run (not a test).

Demo CNN (EfficientNet-Lite0) at 224x224 with its explainer (the bundled one, or a fresh untrained
one: the cost does not depend on training). Three ways to get one map of the top class:
  torch        Explainer.explain(x)                       one target pass + decoder
  onnx-alone   model logits (torch) + explainer-only file  what `--explainer E.onnx` does
  onnx-fused   the fused file, one onnxruntime run         what `--model FUSED.onnx` does
Run: .venv/bin/python benchmarks/bench_onnx.py [--repeats 20]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch


def _time(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def _explainer(model: object) -> object:
    from l2r_core.explainer import build_explainer, load_explainer
    from l2r_core.models.demo import demo_explainer_dir

    folder = demo_explainer_dir("demo-cnn")
    return load_explainer(folder, model) if folder else build_explainer(model)  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from l2r_core.models import load_model
    from l2r_core.onnx.explainer import FusedOnnxAdapter, fused_explainer, open_onnx_explainer
    from l2r_core.onnx import export_onnx
    from l2r_core.onnx.parity import ort_session

    model = load_model("demo-cnn")
    ex = _explainer(model).eval()  # type: ignore[attr-defined]
    tmp = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    alone = export_onnx(ex, tmp / "explainer.onnx")
    fused = export_onnx(ex, tmp / "fused.onnx", fused=True)
    onnx_ex = open_onnx_explainer(alone.path, model, threads=1)
    base = load_model(str(fused.path))
    adapter = FusedOnnxAdapter(ort_session(str(fused.path), threads=1), fused.path, base.preprocessing,
                               base.class_names, base.metadata, fused_explainer(base).meta)  # type: ignore[attr-defined]
    fx = adapter.explainer
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    def fused_once() -> object:
        adapter._last = None  # no cache: a new image every time
        return fx.explain(x)

    with torch.no_grad():
        t_torch = _time(lambda: ex.explain(x), args.repeats)
        t_alone = _time(lambda: onnx_ex.explain(x), args.repeats)
        t_fused = _time(fused_once, args.repeats)
    print(f"demo-cnn 224x224, batch 1, 1 thread, median of {args.repeats} "
          f"(parity: alone {alone.max_abs_diff:.1e}, fused {fused.max_abs_diff:.1e})")
    print(f"{'torch':<12}{t_torch * 1e3:8.1f} ms")
    print(f"{'onnx-alone':<12}{t_alone * 1e3:8.1f} ms   torch/onnx = {t_torch / t_alone:.2f}x")
    print(f"{'onnx-fused':<12}{t_fused * 1e3:8.1f} ms   torch/onnx = {t_torch / t_fused:.2f}x")


if __name__ == "__main__":
    main()
