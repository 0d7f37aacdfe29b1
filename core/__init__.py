"""L2R Inspector core library (import name ``l2r_core``): torch and numpy only, no Qt.
Layers and module map: docs/architecture.md.

The notebook API::

    model = l2r_core.wrap(net, input_size=224, mean=0.5, std=0.5)   # or l2r_core.load_model(spec, ...)
    exp = l2r_core.explain(model, "cat.jpg", method="gradcam")
    exp.map, exp.target, exp.probabilities, exp.curves("aha").deletion_auc, exp.overlay()
"""
from .errors import Cancelled, ConfigError, ImageLoadError, L2RError, ModelLoadError
from .images import load_image
from .models import ModelAdapter, Preprocessing, load_model
from .models.card import ModelCard, read_card, write_card
from .models.module_adapter import wrap
from .pipeline import Explanation, explain
from .progress import CancelToken, Progress

# Every built-in method registers itself on import: the baselines, then l2r and l2r-refine.
from . import attribution  # noqa: E402,F401
from .explainer import methods as _explainer_methods  # noqa: E402,F401

__version__ = "0.1.0"

__all__ = [
    "Cancelled", "CancelToken", "ConfigError", "Explanation", "ImageLoadError", "L2RError", "ModelAdapter",
    "ModelCard", "ModelLoadError", "Preprocessing", "Progress", "explain", "load_image", "load_model",
    "read_card", "wrap", "write_card",
]
