"""Bundled assets: sample photos, demo weights, default configs. Data only."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Absolute path of a bundled asset."""
    return ROOT.joinpath(*parts)
