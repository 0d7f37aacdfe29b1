"""ONNX classifiers through onnxruntime: inference only (no gradients)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ModelLoadError
from ..models.adapter import ModelAdapter
from ..models.card import ModelCard
from ..models.class_names import default_class_names
from ..models.preprocessing import Preprocessing
from ..models.weights import file_fingerprint


class OnnxAdapter(ModelAdapter):
    kind = "onnx"
    supports_grad = False

    def __init__(self, session: Any, path: Path, preprocessing: Preprocessing, class_names: Sequence[str],
                 metadata: dict[str, str]) -> None:
        super().__init__(f"onnx:{path.name}", preprocessing, class_names, file_fingerprint(path), str(path))
        self.session = session
        self.metadata = metadata
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]

    def run(self, x: torch.Tensor) -> list[np.ndarray]:
        arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
        return self.session.run(None, {self.input_name: arr})

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.run(x)[0])).to(x.device)


def _static(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def load_onnx(path: str | Path, preprocessing: Preprocessing | None = None,
              class_names: Sequence[str] | None = None, card: ModelCard | None = None) -> OnnxAdapter:
    """``card`` settings apply over the preprocessing recorded in the file or read off its input shape."""
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: ONNX file not found. Check the path.")
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise ModelLoadError(f"{p}: not a valid ONNX model ({str(exc).splitlines()[0][:160]}). Re-export it.") from None
    inputs = session.get_inputs()
    shape = inputs[0].shape if inputs else []
    if len(inputs) != 1 or len(shape) != 4 or _static(shape[1]) not in (1, 3, None):
        raise ModelLoadError(
            f"{p}: the model's input is {[i.shape for i in inputs]}, not one image batch "
            f"(batch, 1 or 3 channels, height, width). Give an image classifier."
        )
    meta = dict(session.get_modelmeta().custom_metadata_map or {})
    pre = preprocessing
    if pre is None and "preprocessing" in meta:
        import json

        pre = Preprocessing.from_dict(json.loads(meta["preprocessing"]))
    if pre is None:
        h, w = _static(shape[2]) or 224, _static(shape[3]) or 224
        pre = Preprocessing(input_size=(h, w), grayscale=shape[1] == 1)
    if card is not None:
        pre = card.preprocessing(pre)
    h, w = pre.input_size
    try:
        out = session.run(None, {inputs[0].name: np.zeros((1, pre.channels, h, w), np.float32)})
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"{p}: the model fails on a {pre.channels}x{h}x{w} input ({str(exc).splitlines()[0][:160]}).") from None
    first = np.asarray(out[0])
    if first.ndim != 2:
        raise ModelLoadError(f"{p}: the first output has shape {first.shape}, not (batch, classes). "
                             f"Give an image classifier.")
    n = int(first.shape[1])
    if class_names is None and "class_names" in meta:
        import json

        class_names = json.loads(meta["class_names"])
    names = list(class_names) if class_names and len(class_names) == n else default_class_names(n)
    return OnnxAdapter(session, p, pre, names, meta)
