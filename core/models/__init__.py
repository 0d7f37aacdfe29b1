"""Model adapters: any classifier behind one interface."""
from .adapter import ModelAdapter
from .loading import load_model
from .preprocessing import Preprocessing

__all__ = ["ModelAdapter", "Preprocessing", "load_model"]
