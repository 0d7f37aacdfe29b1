"""User-facing errors: one clear sentence naming the file and the fix, never a traceback."""
from __future__ import annotations


class L2RError(Exception):
    """Base class for failures caused by user input (files, options, models).

    The CLI prints ``str(error)`` on one line and exits with status 2; the GUI shows it in a
    dialog. Programming errors are not L2RErrors and keep their tracebacks.
    """


class ModelLoadError(L2RError):
    """A model or explainer file could not be loaded."""


class ImageLoadError(L2RError):
    """An image file could not be read."""


class ConfigError(L2RError):
    """An option or config file is invalid."""


class Cancelled(Exception):
    """Raised inside long jobs when the caller asked them to stop."""


class NonFiniteError(L2RError):
    """A model or loss produced NaN or inf."""
