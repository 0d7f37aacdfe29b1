"""Export an explainer (alone or fused with its target) to ONNX, check it, verify parity, write atomically.

The legacy TorchScript exporter (``dynamo=False``) is used: the dynamo exporter needs onnxscript,
which is not a dependency, and tracing handles timm's ``forward_intermediates`` on CNNs and ViTs.
Only the batch axis is dynamic; height and width are the model's input size (recorded in the
preprocessing metadata), so every map comes out at the resolution the product shows.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_target
from ..errors import ConfigError, L2RError
from .fused import ExplainerGraph, FusedGraph
from .metadata import EXPLAINER_IO, FUSED_IO, KIND_EXPLAINER, KIND_FUSED, build_metadata, write_metadata
from .parity import max_abs_difference

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4


class OnnxParityError(L2RError):
    """onnxruntime's outputs differ from torch's by more than the tolerance."""


@dataclass
class OnnxExportResult:
    path: Path
    kind: str  # "explainer" or "fused"
    max_abs_diff: float  # onnxruntime vs torch on a batch of a size other than the traced one
    size_bytes: int
    seconds: float


def _exporter_info(opset: int) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("l2r-inspector")
    except PackageNotFoundError:
        own = "unknown"
    return {"torch": torch.__version__, "opset": opset, "l2r_inspector": own, "exporter": "torchscript",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _sample_inputs(explainer: Any, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    pre = explainer.model.preprocessing
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, pre.channels, *pre.input_size, generator=gen)
    t = torch.randint(0, explainer.model.num_classes, (batch,), generator=gen)
    return x, t


def _trace(graph: torch.nn.Module, args: tuple[torch.Tensor, ...], io: dict[str, list[str]], path: str,
           opset: int) -> None:
    names = io["inputs"] + io["outputs"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings on constant shapes, the legacy-exporter notice
        torch.onnx.export(graph, args, path, dynamo=False, opset_version=opset, do_constant_folding=True,
                          input_names=io["inputs"], output_names=io["outputs"],
                          dynamic_axes={n: {0: "batch"} for n in names})


def _metadata(explainer: Any, kind: str, opset: int) -> dict[str, str]:
    from ..explainer.io import explainer_metadata

    model = explainer.model
    return build_metadata(kind, model.describe(), explainer_metadata(explainer), model.preprocessing.to_dict(),
                          list(model.class_names), _exporter_info(opset))


def _export_to(explainer: Any, tmp: str, fused: bool, opset: int, tolerance: float) -> float:
    graph = (FusedGraph(explainer) if fused else ExplainerGraph(explainer)).eval()
    x1, t1 = _sample_inputs(explainer, 1, seed=0)
    _trace(graph, (x1,) if fused else (x1, t1), FUSED_IO if fused else EXPLAINER_IO, tmp, opset)
    write_metadata(tmp, _metadata(explainer, KIND_FUSED if fused else KIND_EXPLAINER, opset))
    import onnx

    try:
        onnx.checker.check_model(tmp, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConfigError(f"the exported graph fails onnx.checker ({str(exc).splitlines()[0][:200]}).") from None
    x3, t3 = _sample_inputs(explainer, 3, seed=1)  # another batch size: proves the batch axis is dynamic
    diff = max_abs_difference(graph, tmp, x3, None if fused else t3)
    if not diff <= tolerance:
        raise OnnxParityError(f"onnxruntime differs from torch by {diff:.3g} (> {tolerance:g}) on the exported "
                              f"{'fused model' if fused else 'explainer'}; the file was not written.")
    return diff


def export_onnx(explainer: Any, out: str | Path, *, fused: bool = False, opset: int = DEFAULT_OPSET,
                tolerance: float = DEFAULT_TOLERANCE) -> OnnxExportResult:
    """Write ``explainer`` (an ``l2r_core.explainer.Explainer``) to ``out`` as ONNX.

    ``fused=False``: inputs ``image`` (B,C,H,W) float32 and ``target`` (B,) int64, output ``map``
    (B,H,W). ``fused=True``: input ``image``, outputs ``logits`` (B,K), ``map`` (B,H,W) of the top
    class and ``target`` (B,) int64. The file is only written if onnx.checker passes and
    onnxruntime matches torch within ``tolerance`` (max abs) on a batch of 3.
    """
    if opset < 17:
        raise ConfigError(f"opset {opset}: use 17 or newer.")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"{out}: the output file must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    device = explainer.device
    start = time.perf_counter()
    was_training = explainer.decoder.training
    try:
        explainer.to("cpu").eval()  # trace and compare on the CPU, where onnxruntime runs
        with atomic_target(out, suffix=".onnx") as tmp:
            diff = _export_to(explainer, str(tmp), fused, opset, tolerance)
    finally:
        explainer.to(device).train(was_training)
    return OnnxExportResult(out, KIND_FUSED if fused else KIND_EXPLAINER, diff, out.stat().st_size,
                            time.perf_counter() - start)
