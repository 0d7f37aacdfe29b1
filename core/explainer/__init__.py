"""The learned "learn to rank" explainer: frozen backbone + class-conditioned DPT-style decoder.

``build_explainer`` makes a fresh one for a model, ``save_explainer``/``load_explainer`` store it,
``refine`` improves one map at test time. Importing ``l2r_core.explainer.methods`` registers the
``l2r`` and ``l2r-refine`` attribution methods.
"""
from .config import ExplainerConfig
from .explainer import Explainer, build_explainer, explainer_fingerprint, with_extensions
from .io import load_explainer, save_explainer
from .network import L2RDecoder
from .protocol import ExplainerLike

__all__ = ["Explainer", "ExplainerConfig", "ExplainerLike", "L2RDecoder", "build_explainer", "explainer_fingerprint",
           "load_explainer", "save_explainer", "with_extensions"]
