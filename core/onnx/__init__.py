"""Deployable explanations: the learned explainer (alone or fused with its target) as an ONNX file.

``export_onnx`` writes a checked, parity-verified file whose metadata names the model, the
explainer, the preprocessing and the class names; ``l2r_core.onnx.explainer`` loads it back.
"""
from .export import OnnxExportResult, export_onnx
from .metadata import FORMAT, KIND_EXPLAINER, KIND_FUSED, OnnxExplainerMeta, read_metadata

__all__ = ["FORMAT", "KIND_EXPLAINER", "KIND_FUSED", "OnnxExplainerMeta", "OnnxExportResult", "export_onnx",
           "read_metadata"]
