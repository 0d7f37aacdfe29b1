"""Exported explainers (``l2r export-onnx``) used like the torch ``Explainer``.

Two kinds of file (see ``l2r_core.onnx``):
- explainer alone, (image, target) -> map: ``OnnxExplainer`` pairs it with the model it explains
  (torch or ONNX) and refuses another model's file;
- fused with its target, image -> (logits, map of the top class, top class): ``FusedOnnxAdapter``
  is the classifier and ``fused_explainer(adapter)`` its explainer, so the ``l2r`` method uses the
  map computed inside the file with no extra pass.
Both duck-type ``Explainer``: ``explain(x, targets) -> (maps (B,H,W), logits (B,K))``, ``model``,
``config``, ``device``, ``to``, ``eval``, ``train`` and ``fingerprint``. No gradients (no refinement
of the explainer itself; ``l2r-refine`` still works when the model is a torch model).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigError, ModelLoadError
from .metadata import (IMAGE, KIND_EXPLAINER, KIND_FUSED, LOGITS, MAP, TARGET, OnnxExplainerMeta,
                                    is_l2r_file, parse_metadata)
from ..targets import as_targets
from ..models.adapter import ModelAdapter
from ..models.card import ModelCard
from .adapter import OnnxAdapter, load_onnx
from ..models.preprocessing import Preprocessing


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float32).contiguous().numpy()


class _OnnxExplainerBase:
    """What the two ONNX explainers share: identity from the metadata, no-op device/mode moves."""

    def __init__(self, model: ModelAdapter, meta: OnnxExplainerMeta, path: Path) -> None:
        self.model = model
        self.meta = meta
        self.path = path

    @property
    def config(self) -> Any:
        from ..explainer.config import ExplainerConfig

        return ExplainerConfig.from_dict(self.meta.explainer.get("config", {}))

    @property
    def fingerprint(self) -> str:
        """The decoder's weights fingerprint (as ``explainer_fingerprint`` gives for the torch one)."""
        return self.meta.explainer_fingerprint

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device: str | torch.device) -> "_OnnxExplainerBase":
        return self  # onnxruntime runs on the CPU; maps come back on the input's device

    def train(self, mode: bool = True) -> "_OnnxExplainerBase":
        return self

    def eval(self) -> "_OnnxExplainerBase":
        return self

    def describe(self) -> dict[str, object]:
        return {"source": str(self.path), "kind": f"onnx-{self.meta.kind}", "fingerprint": self.fingerprint,
                "config": self.meta.explainer.get("config"), "target": self.meta.model}


class OnnxExplainer(_OnnxExplainerBase):
    """An explainer-only ONNX file next to its model: map from the file, logits from the model."""

    def __init__(self, session: Any, model: ModelAdapter, meta: OnnxExplainerMeta, path: Path) -> None:
        super().__init__(model, meta, path)
        self.session = session

    @torch.no_grad()
    def explain(self, x: torch.Tensor, targets: torch.Tensor | int | Sequence[int] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model.logits(x)
        t = as_targets(targets, logits.shape[0], "cpu", logits)
        (maps,) = self.session.run([MAP], {IMAGE: _numpy(x), TARGET: t.numpy()})
        return torch.from_numpy(np.asarray(maps)).to(x.device), logits


class FusedOnnxAdapter(OnnxAdapter):
    """A fused export as a classifier: one run gives logits and the top class's map (kept for reuse).

    ``logits`` for a new input runs a logits-only subgraph (onnxruntime does not skip the decoder
    for unrequested outputs), so deletion/insertion curves cost what a plain classifier costs.
    """

    def __init__(self, session: Any, path: Path, preprocessing: Preprocessing, class_names: Sequence[str],
                 metadata: dict[str, str], meta: OnnxExplainerMeta) -> None:
        super().__init__(session, path, preprocessing, class_names, metadata)
        self.l2r_meta = meta
        self._last: tuple[torch.Tensor, list[np.ndarray]] | None = None
        self._logits_session: Any = None

    def run_fused(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits, maps, top classes) for a batch; the last batch's outputs are reused."""
        xc = x.detach().to("cpu", torch.float32)
        if self._last is None or self._last[0].shape != xc.shape or not torch.equal(self._last[0], xc):
            outs = self.session.run([LOGITS, MAP, TARGET], {IMAGE: _numpy(xc)})
            self._last = (xc.clone(), [np.asarray(o) for o in outs])
        logits, maps, top = self._last[1]
        return logits, maps, top

    def _logits_only(self) -> Any:
        if self._logits_session is None:
            import onnx
            import onnxruntime as ort

            sub = onnx.utils.Extractor(onnx.load(self.source)).extract_model([IMAGE], [LOGITS])
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self._logits_session = ort.InferenceSession(sub.SerializeToString(), sess_options=opts,
                                                        providers=["CPUExecutionProvider"])
        return self._logits_session

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        xc = x.detach().to("cpu", torch.float32)
        if self._last is not None and self._last[0].shape == xc.shape and torch.equal(self._last[0], xc):
            return torch.from_numpy(self._last[1][0]).to(x.device)
        (out,) = self._logits_only().run([LOGITS], {IMAGE: _numpy(xc)})
        return torch.from_numpy(np.asarray(out)).to(x.device)

    @property
    def explainer(self) -> "FusedOnnxExplainer":
        return FusedOnnxExplainer(self)

    def describe(self) -> dict[str, object]:
        d = super().describe()
        d.update(exported_from=self.l2r_meta.model, explainer_fingerprint=self.l2r_meta.explainer_fingerprint)
        return d


class FusedOnnxExplainer(_OnnxExplainerBase):
    """The explainer inside a fused file: it explains the top class only (the file has no target input)."""

    def __init__(self, adapter: FusedOnnxAdapter) -> None:
        super().__init__(adapter, adapter.l2r_meta, Path(adapter.source))
        self.adapter = adapter

    @torch.no_grad()
    def explain(self, x: torch.Tensor, targets: torch.Tensor | int | Sequence[int] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        logits, maps, top = self.adapter.run_fused(x)
        if targets is not None:
            wanted = as_targets(targets, logits.shape[0], "cpu", torch.from_numpy(logits)).numpy()
            if not np.array_equal(wanted, top):
                i = int(np.flatnonzero(wanted != top)[0])
                raise ConfigError(
                    f"{self.path.name} is a fused export: it explains only the top class ({int(top[i])}), "
                    f"not class {int(wanted[i])}. Export the explainer alone (l2r export-onnx without --fused) "
                    f"to explain other classes.")
        return torch.from_numpy(maps).to(x.device), torch.from_numpy(logits).to(x.device)


# -- loading ------------------------------------------------------------------------------------
def _session(path: Path, threads: int | None) -> Any:
    from .parity import ort_session

    if not path.is_file():
        raise ModelLoadError(f"{path}: ONNX explainer file not found. Check the path.")
    try:
        return ort_session(str(path), threads)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise ModelLoadError(f"{path}: not a valid ONNX file ({str(exc).splitlines()[0][:160]}). "
                             f"Export it again with `l2r export-onnx`.") from None


def _source_fingerprint(model: ModelAdapter) -> str:
    """The torch weights a model stands for: its own, or (an ONNX export) the ones recorded in it."""
    meta = getattr(model, "metadata", None)
    if isinstance(meta, dict) and is_l2r_file(meta):
        return str(meta.get("l2r_model_fingerprint", ""))
    return str(model.fingerprint)


def check_model_matches(meta: OnnxExplainerMeta, model: ModelAdapter, path: Path) -> None:
    """Refuse an exported explainer made for other weights or another input geometry."""
    if meta.model_fingerprint not in (str(model.fingerprint), _source_fingerprint(model)):
        raise ModelLoadError(
            f"explainer {path.name} was exported for {meta.model.get('name', '?')} (fingerprint "
            f"{meta.model_fingerprint[:8]}) but the loaded model is {model.name} (fingerprint "
            f"{str(model.fingerprint)[:8]}); load the matching model or export this model's explainer.")
    pre = Preprocessing.from_dict(meta.preprocessing)
    if (tuple(pre.input_size), pre.channels) != (tuple(model.preprocessing.input_size), model.preprocessing.channels):
        raise ModelLoadError(f"explainer {path.name} takes {pre.channels}x{pre.input_size[0]}x{pre.input_size[1]} "
                             f"images but {model.name} is set up for {model.preprocessing.channels}x"
                             f"{model.preprocessing.input_size[0]}x{model.preprocessing.input_size[1]}.")


def open_onnx_explainer(path: str | Path, model: ModelAdapter, *, threads: int | None = None
                        ) -> OnnxExplainer | FusedOnnxExplainer:
    """An exported explainer for ``model`` (explainer-only or fused file); refuses another model's."""
    p = Path(path)
    session = _session(p, threads)
    props = dict(session.get_modelmeta().custom_metadata_map or {})
    meta = parse_metadata(props, str(p))
    check_model_matches(meta, model, p)
    if meta.kind == KIND_EXPLAINER:
        return OnnxExplainer(session, model, meta, p)
    if isinstance(model, FusedOnnxAdapter) and Path(model.source).resolve() == p.resolve():
        return model.explainer
    pre = Preprocessing.from_dict(meta.preprocessing)
    return FusedOnnxAdapter(session, p, pre, meta.class_names, props, meta).explainer


def fused_explainer(model: ModelAdapter) -> FusedOnnxExplainer | None:
    """The explainer inside a fused ONNX model, or None for any other model."""
    if isinstance(model, FusedOnnxAdapter):
        return model.explainer
    meta = getattr(model, "metadata", None)
    if not (isinstance(model, OnnxAdapter) and isinstance(meta, dict) and is_l2r_file(meta)):
        return None
    parsed = parse_metadata(meta, model.source)
    if parsed.kind != KIND_FUSED:
        return None
    # A plain OnnxAdapter over a fused file (loaded without load_onnx_model): share its session.
    fused = FusedOnnxAdapter(model.session, Path(model.source), model.preprocessing, model.class_names, meta, parsed)
    return fused.explainer


def _refuse_explainer_only(path: Path) -> None:
    try:
        from .metadata import read_metadata

        kind = read_metadata(str(path)).kind
    except ModelLoadError:
        return
    if kind == KIND_EXPLAINER:
        raise ModelLoadError(f"{path}: this is an exported L2R explainer (image + target -> map), not a classifier. "
                             f"Load the model it explains and pass this file as --explainer.")


def load_onnx_model(path: str | Path, preprocessing: Preprocessing | None = None,
                    class_names: Sequence[str] | None = None, card: ModelCard | None = None) -> OnnxAdapter:
    """``load_onnx``, except that a fused export comes back as a ``FusedOnnxAdapter`` and an
    explainer-only export is refused with a hint. Drop-in for ``load_onnx`` in ``load_model``."""
    p = Path(path)
    try:
        adapter = load_onnx(p, preprocessing, class_names, card)
    except ModelLoadError:
        _refuse_explainer_only(p)
        raise
    if not is_l2r_file(adapter.metadata):
        return adapter
    meta = parse_metadata(adapter.metadata, str(p))
    if meta.kind != KIND_FUSED:
        return adapter
    return FusedOnnxAdapter(adapter.session, p, adapter.preprocessing, adapter.class_names, adapter.metadata, meta)
