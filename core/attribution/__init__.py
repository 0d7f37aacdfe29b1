"""Attribution methods behind one API. Importing this package registers the built-ins."""
from .registry import MethodInfo, attribute, available_methods, get_method, list_methods, register_method

__all__ = ["MethodInfo", "attribute", "available_methods", "get_method", "list_methods", "register_method"]

# Importing the built-in methods registers them (order = display order).
from . import gradcam, integrated_gradients, rise, rollout, gae  # noqa: E402,F401
