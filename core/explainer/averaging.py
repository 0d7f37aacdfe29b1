"""Weight averaging of saved explainers (checkpoints of one run, or fine-tunes of one explainer).

The mean of several checkpoints from the end of a run usually generalises better than any one of
them (stochastic weight averaging, "model soups"), at no cost when explaining. Only explainers
with the same decoder for the same target can be averaged; anything else is refused by name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import ConfigError
from ..models.weights import tensor_fingerprint
from .io import explainer_paths, read_matching_weights, read_metadata, write_explainer_files

# What must be equal for two explainers' weights to mean the same thing.
_SAME = ("decoder_version", "config", "feature_channels", "feature_sizes")


def _identity(meta: dict[str, Any]) -> dict[str, Any]:
    same = {k: meta.get(k) for k in _SAME}
    same["target"] = (meta.get("target") or {}).get("fingerprint")
    same["backbone"] = (meta.get("backbone") or {}).get("fingerprint")
    return same


def average_weights(states: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of state dicts with the same names and shapes (computed in float64,
    stored in each tensor's own dtype)."""
    if not states:
        raise ConfigError("nothing to average: give at least one explainer")
    out: dict[str, torch.Tensor] = {}
    for name, ref in states[0].items():
        if ref.is_floating_point():
            out[name] = torch.stack([s[name].to(torch.float64) for s in states]).mean(0).to(ref.dtype)
        else:
            out[name] = ref.clone()
    return out


def average_explainers(sources: Sequence[str | Path], out: str | Path) -> Path:
    """Write the weight average of the explainers in ``sources`` (folders or their explainer.json)
    to ``out``; returns its explainer.json. The description is the first source's, with the new
    fingerprint and the sources' fingerprints under ``extra.averaged_from``."""
    if len(sources) < 2:
        raise ConfigError(f"averaging needs at least two explainers, got {len(sources)}")
    metas, states, paths = [], [], []
    for source in sources:
        meta_path, weights_path = explainer_paths(source)
        metas.append(read_metadata(meta_path))
        states.append(read_matching_weights(weights_path, metas[-1]))
        paths.append(meta_path.parent)
    first = _identity(metas[0])
    first_shapes = {k: tuple(v.shape) for k, v in states[0].items()}
    for meta, state, path in zip(metas[1:], states[1:], paths[1:]):
        ident = _identity(meta)
        differ = [k for k in first if first[k] != ident[k]]
        if differ:
            raise ConfigError(f"{path}: cannot be averaged with {paths[0]}: their {', '.join(differ)} differ. "
                              f"Average checkpoints of one run, or fine-tunes of one explainer for the same model.")
        if {k: tuple(v.shape) for k, v in state.items()} != first_shapes:
            raise ConfigError(f"{path}: its weights do not have the names and shapes of {paths[0]}'s; "
                              f"average explainers of the same architecture.")
    state = average_weights(states)
    meta = dict(metas[0])
    meta["decoder_fingerprint"] = tensor_fingerprint(state)
    meta["extra"] = {"averaged_from": [{"path": str(p), "decoder_fingerprint": m.get("decoder_fingerprint"),
                                        "extra": m.get("extra", {})} for p, m in zip(paths, metas)]}
    return write_explainer_files(Path(out), state, meta)
