"""onnxruntime vs torch on the same inputs: the number an export is accepted on."""
from __future__ import annotations

import numpy as np
import torch

from .metadata import IMAGE, TARGET


def ort_session(path: str, threads: int | None = None) -> object:
    """A CPU onnxruntime session, quiet; ``threads`` caps intra-op threads (None: onnxruntime's default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def max_abs_difference(graph: torch.nn.Module, path: str, x: torch.Tensor, target: torch.Tensor | None) -> float:
    """Largest |onnx - torch| over every float output; integer outputs (the top class) must be equal."""
    with torch.no_grad():
        ref = graph(x) if target is None else graph(x, target)
    refs = ref if isinstance(ref, tuple) else (ref,)
    feed = {IMAGE: x.numpy().astype(np.float32)}
    if target is not None:
        feed[TARGET] = target.numpy().astype(np.int64)
    outs = ort_session(path).run(None, feed)  # type: ignore[attr-defined]
    worst = 0.0
    for got, want in zip(outs, refs):
        want_np = want.detach().cpu().numpy()
        if got.shape != want_np.shape:
            return float("inf")
        if np.issubdtype(want_np.dtype, np.integer):
            if not np.array_equal(got, want_np):
                return float("inf")
            continue
        worst = max(worst, float(np.abs(got.astype(np.float64) - want_np).max()) if got.size else 0.0)
    return worst
