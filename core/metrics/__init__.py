"""Deletion/insertion metrics: hard curves under named protocols, and the soft training loss."""
from .hard import CurveResult, deletion_insertion
from .protocols import DEFAULT_PROTOCOL, PROTOCOLS, Protocol, get_protocol

__all__ = ["CurveResult", "DEFAULT_PROTOCOL", "PROTOCOLS", "Protocol", "deletion_insertion", "get_protocol"]
