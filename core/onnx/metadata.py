"""What an exported file says about itself (ONNX ``metadata_props``, every value a string).

``preprocessing`` and ``class_names`` are the keys ``OnnxAdapter`` already reads, so a fused file
opens as an ordinary classifier too. The ``l2r_*`` keys say which kind of file it is and whose
model and explainer it holds. No torch import here: loading an exported file needs only onnxruntime.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ModelLoadError

FORMAT = "l2r-onnx"
VERSION = 1
KIND_EXPLAINER = "explainer"  # inputs (image, target) -> map
KIND_FUSED = "fused"  # input image -> logits, map of the top class, top class

# Input/output names of the two graphs (the loaders address them by name).
IMAGE, TARGET, MAP, LOGITS = "image", "target", "map", "logits"
EXPLAINER_IO = {"inputs": [IMAGE, TARGET], "outputs": [MAP]}
FUSED_IO = {"inputs": [IMAGE], "outputs": [LOGITS, MAP, TARGET]}


@dataclass
class OnnxExplainerMeta:
    """The parsed ``l2r_*`` metadata of an exported file."""

    kind: str
    model: dict[str, Any]  # the target's describe(), fingerprint included
    explainer: dict[str, Any]  # explainer.json contents: config, target, decoder fingerprint...
    preprocessing: dict[str, Any]
    class_names: list[str]
    exporter: dict[str, Any] = field(default_factory=dict)

    @property
    def model_fingerprint(self) -> str:
        return str(self.model.get("fingerprint", ""))

    @property
    def explainer_fingerprint(self) -> str:
        return str(self.explainer.get("decoder_fingerprint", ""))


def build_metadata(kind: str, model: dict[str, Any], explainer: dict[str, Any], preprocessing: dict[str, Any],
                   class_names: list[str], exporter: dict[str, Any]) -> dict[str, str]:
    """The metadata_props written into the file (JSON-encoded values)."""
    dump = lambda v: json.dumps(v, default=str)  # noqa: E731 - describe() may hold paths
    return {
        "l2r_format": FORMAT,
        "l2r_version": str(VERSION),
        "l2r_kind": kind,
        "l2r_io": dump(FUSED_IO if kind == KIND_FUSED else EXPLAINER_IO),
        "l2r_model": dump(model),
        "l2r_model_fingerprint": str(model.get("fingerprint", "")),
        "l2r_explainer": dump(explainer),
        "l2r_explainer_fingerprint": str(explainer.get("decoder_fingerprint", "")),
        "l2r_exporter": dump(exporter),
        "preprocessing": dump(preprocessing),
        "class_names": dump(list(class_names)),
    }


def is_l2r_file(props: Mapping[str, str]) -> bool:
    return props.get("l2r_format") == FORMAT


def parse_metadata(props: Mapping[str, str], where: str) -> OnnxExplainerMeta:
    """``props`` as read back (onnxruntime's custom_metadata_map); one-line error if foreign."""
    if not is_l2r_file(props):
        raise ModelLoadError(f"{where}: not an L2R explainer export (no l2r_format metadata). "
                             f"Export one with `l2r export-onnx`.")
    if int(props.get("l2r_version", "0") or 0) > VERSION:
        raise ModelLoadError(f"{where}: ONNX explainer format version {props.get('l2r_version')} is newer than "
                             f"this program reads ({VERSION}). Update L2R Inspector.")
    kind = props.get("l2r_kind", "")
    if kind not in (KIND_EXPLAINER, KIND_FUSED):
        raise ModelLoadError(f"{where}: unknown L2R ONNX kind '{kind}'.")
    try:
        return OnnxExplainerMeta(
            kind=kind,
            model=dict(json.loads(props.get("l2r_model", "{}"))),
            explainer=dict(json.loads(props.get("l2r_explainer", "{}"))),
            preprocessing=dict(json.loads(props["preprocessing"])),
            class_names=[str(c) for c in json.loads(props.get("class_names", "[]"))],
            exporter=dict(json.loads(props.get("l2r_exporter", "{}"))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{where}: damaged L2R metadata ({exc}). Export the file again.") from None


def read_metadata(path: str) -> OnnxExplainerMeta:
    """Parse the metadata of a file on disk (reads the graph too; use the session's map when open)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and friends
        raise ModelLoadError(f"{path}: not a readable ONNX file ({str(exc).splitlines()[0][:160]}).") from None
    return parse_metadata({p.key: p.value for p in proto.metadata_props}, str(path))


def write_metadata(path: str, props: Mapping[str, str]) -> None:
    """Replace the file's metadata_props with ``props`` (in place)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))
