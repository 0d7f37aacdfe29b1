"""Turn any failure from a job into a dialog title and a message with the cause and the fix."""
from __future__ import annotations

from l2r_core.errors import ConfigError, ImageLoadError, L2RError, ModelLoadError, NonFiniteError


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def describe_error(exc: BaseException, action: str = "") -> tuple[str, str]:
    """(title, message) for a dialog. L2RErrors already name the file and the fix."""
    doing = f" while {action}" if action else ""
    if _is_oom(exc):
        return ("Out of memory",
                f"The computer ran out of memory{doing}. Fix: switch the device to CPU in the Device menu, "
                f"pick a lighter method (Grad-CAM), or close other programs.\n\nCause: {exc}")
    if isinstance(exc, ImageLoadError):
        return "Cannot read image", str(exc)
    if isinstance(exc, ModelLoadError):
        return "Cannot load model", str(exc)
    if isinstance(exc, NonFiniteError):
        return "Invalid numbers", str(exc)
    if isinstance(exc, ConfigError):
        return "Not possible with this model", str(exc)
    if isinstance(exc, L2RError):
        return "Cannot continue", str(exc)
    if isinstance(exc, RuntimeError) and ("size mismatch" in str(exc) or "shape" in str(exc)):
        return ("Model and input do not match",
                f"The model refused the input{doing}: {exc}\n\nFix: check that the model's preprocessing "
                f"(input size, channels) matches how it was trained, or load the matching model.")
    return ("Unexpected error",
            f"Something failed{doing}: {type(exc).__name__}: {exc}\n\nThe window keeps working; "
            f"please report this with the details below.")
