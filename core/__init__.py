"""L2R Inspector core library (import name ``l2r_core``): torch and numpy only, no Qt."""
from .errors import Cancelled, ImageLoadError, L2RError, ModelLoadError
from .images import load_image
from .models import ModelAdapter, Preprocessing, load_model
from .progress import CancelToken, Progress

__version__ = "0.1.0"

__all__ = [
    "Cancelled", "CancelToken", "ImageLoadError", "L2RError", "ModelAdapter", "ModelLoadError",
    "Preprocessing", "Progress", "load_image", "load_model",
]
