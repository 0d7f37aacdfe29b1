"""Explainer = frozen feature source (the target itself, or another timm backbone) + trained decoder."""
from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..models.adapter import ModelAdapter
from ..models.head import classifier_weights
from ..models.timm_adapter import load_timm
from ..models.weights import tensor_fingerprint
from ..targets import as_targets
from .config import ExplainerConfig
from .network import L2RDecoder


def _freeze(adapter: ModelAdapter) -> None:
    module = adapter.module
    if module is not None:
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)


class Explainer:
    """Computes class-conditioned attribution maps in one pass of the target.

    With ``backbone == "target"`` the target's logits and intermediate features come from the same
    forward pass, so an explanation costs one target pass plus the small decoder.
    """

    def __init__(self, model: ModelAdapter, config: ExplainerConfig, decoder: L2RDecoder,
                 backbone: ModelAdapter | None = None) -> None:
        if config.backbone != "target" and backbone is None:
            raise ConfigError(f"explainer: backbone {config.backbone} was not loaded")
        self.model = model
        self.config = config
        self.decoder = decoder
        self.backbone = backbone
        _freeze(model)
        if backbone is not None:
            _freeze(backbone)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def fingerprint(self) -> str:
        """The decoder's weights fingerprint (what ``explainer_fingerprint`` gives)."""
        return tensor_fingerprint(self.decoder.state_dict())

    def describe(self) -> dict[str, object]:
        """What a result was explained with: kind, weights fingerprint, decoder settings, backbone."""
        return {"kind": "torch", "fingerprint": self.fingerprint, "config": self.config.to_dict(),
                "target": self.model.name,
                "backbone": None if self.backbone is None else self.backbone.name}

    def _indices(self) -> int | list[int]:
        fi = self.config.feature_indices
        return list(fi) if isinstance(fi, (list, tuple)) else int(fi)

    def _to_backbone_input(self, x: torch.Tensor) -> torch.Tensor:
        """Re-express a batch normalised for the target in the backbone's own preprocessing."""
        assert self.backbone is not None
        src, dst = self.model.preprocessing, self.backbone.preprocessing
        if (src.mean, src.std, src.channels, src.input_size) == (dst.mean, dst.std, dst.channels, dst.input_size):
            return x
        raw = src.denormalize(x)
        if dst.channels == 1 and raw.shape[1] != 1:
            raw = raw.mean(1, keepdim=True)
        elif dst.channels != 1 and raw.shape[1] == 1:
            raw = raw.expand(-1, dst.channels, -1, -1)
        if tuple(raw.shape[-2:]) != tuple(dst.input_size):
            raw = F.interpolate(raw, size=dst.input_size, mode="bilinear", align_corners=False)
        c = dst.channels
        mean = torch.tensor(dst.mean[:c], device=x.device, dtype=x.dtype).view(1, c, 1, 1)
        std = torch.tensor(dst.std[:c], device=x.device, dtype=x.dtype).view(1, c, 1, 1)
        return (raw - mean) / std

    def _backbone_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        assert self.backbone is not None
        xb = self._to_backbone_input(x)
        module = self.backbone.module
        try:  # skips the backbone's head, which nobody needs
            feats = module.forward_intermediates(xb, indices=self._indices(), intermediates_only=True)  # type: ignore[union-attr]
        except (TypeError, AttributeError):
            feats = self.backbone.logits_and_features(xb, self._indices())[1]
        return list(feats)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(target logits (B,K), feature maps); one target pass when the backbone is the target."""
        if self.backbone is None:  # with class_evidence the last map is the one the head pools
            logits, feats = self.model.logits_and_features(x, self._indices(), head_input=self.config.class_evidence)
            return logits, list(feats)
        return self.model.logits(x), self._backbone_features(x)

    def explain(self, x: torch.Tensor, targets: torch.Tensor | int | Sequence[int] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(maps (B,H,W) raw scores at x's resolution, target logits (B,K)); targets None -> top-1."""
        logits, feats = self.features(x)
        t = as_targets(targets, x.shape[0], x.device, logits)
        maps = self.decoder(feats, t, (int(x.shape[-2]), int(x.shape[-1])), x)
        return maps, logits

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.decoder.parameters() if p.requires_grad]

    def to(self, device: str | torch.device) -> "Explainer":
        self.model.to(device)
        if self.backbone is not None:
            self.backbone.to(device)
        self.decoder.to(self.model.device)
        return self

    def train(self, mode: bool = True) -> "Explainer":
        """Decoder mode only: the target and backbone stay frozen in eval mode."""
        self.decoder.train(mode)
        return self

    def eval(self) -> "Explainer":
        return self.train(False)


def probe_features(model: ModelAdapter, config: ExplainerConfig,
                   backbone: ModelAdapter | None) -> tuple[list[int], list[list[int]]]:
    """Channels and (h, w) of the feature maps, from one dummy pass at the config's input size."""
    x = torch.zeros(1, model.preprocessing.channels, *config.input_size, device=model.device)
    source = Explainer(model, config, None, backbone)  # type: ignore[arg-type]  # features() needs no decoder
    with torch.no_grad():
        feats = source.features(x)[1]
    bad = [tuple(f.shape) for f in feats if f.ndim != 4]
    if config.class_evidence and feats[-1].ndim != 4:
        raise ConfigError(f"{model.name}: class_evidence needs a target whose classifier pools an NCHW map (a CNN); "
                          f"its head takes {tuple(feats[-1].shape)}. Train without class_evidence.")
    if bad:
        raise ConfigError(f"explainer: backbone features must be NCHW maps, got shapes {bad}")
    return [int(f.shape[1]) for f in feats], [[int(f.shape[2]), int(f.shape[3])] for f in feats]


def load_backbone(config: ExplainerConfig) -> ModelAdapter | None:
    if config.backbone == "target":
        return None
    if not config.backbone.startswith("timm:") or not config.backbone_weights:
        raise ConfigError(f"explainer backbone '{config.backbone}': give timm:<architecture> and its local "
                          f"weights file (backbone_weights); nothing is downloaded.")
    return load_timm(config.backbone[len("timm:"):], config.backbone_weights)


def class_weights_for(model: ModelAdapter, config: ExplainerConfig) -> torch.Tensor | None:
    """The classifier rows a ``class_source="classifier"`` decoder needs (None for "table")."""
    if config.class_source != "classifier":
        return None
    w = classifier_weights(model)
    if w is None:
        raise ConfigError(f"{model.name} ({model.kind}): class_source 'classifier' reads the model's last Linear "
                          f"layer, and this model has none that Python can see. Use class_source 'table'.")
    return w


def with_extensions(explainer: Explainer, *, class_source: str | None = None,
                    class_evidence: bool | None = None) -> Explainer:
    """The same trained explainer with our decoder extensions switched as given (None: unchanged).
    Every trained weight is kept and the new parts start at zero: moving from "table" to
    "classifier" leaves the maps unchanged; adding class_evidence starts each map as the decoder's
    own map plus the class's evidence map scaled to the same spread."""
    wanted = {"class_source": class_source, "class_evidence": class_evidence}
    changes = {k: v for k, v in wanted.items() if v is not None and getattr(explainer.config, k) != v}
    if not changes:
        return explainer
    config = dataclasses.replace(explainer.config, **changes)  # validated again
    old = explainer.decoder
    channels, sizes = old.feature_channels, old.feature_sizes
    if "class_evidence" in changes:  # the feature list gains (or loses) the map the head pools
        channels, sizes = probe_features(explainer.model, config, explainer.backbone)
    decoder = L2RDecoder(config, channels, sizes, old.image_channels,
                         class_weights_for(explainer.model, config)).to(explainer.device)
    missing, unexpected = decoder.load_state_dict(old.state_dict(), strict=False)
    added = ("class_proj.", "evidence_in.", "evidence_log_gain")
    if unexpected or any(not k.startswith(added) for k in missing):
        raise ConfigError(f"cannot change this explainer's {', '.join(changes)} (weights {sorted(unexpected)[:3]} "
                          f"have no place); train a new one.")
    return Explainer(explainer.model, config, decoder, explainer.backbone)


def build_explainer(model: ModelAdapter, config: ExplainerConfig | None = None, *,
                    backbone: ModelAdapter | None = None) -> Explainer:
    """A fresh (untrained) explainer for ``model``; decoder channels probed from a dummy pass.

    ``backbone`` may be given already loaded (else ``config.backbone``/``backbone_weights`` are
    loaded). ``num_classes`` and ``input_size`` are taken from the model.
    """
    config = dataclasses.replace(config or ExplainerConfig(), num_classes=model.num_classes,
                                 input_size=tuple(model.preprocessing.input_size))
    if config.backbone == "target":
        if not model.supports_features:
            raise ConfigError(
                f"{model.name} ({model.kind}) gives no intermediate features, so the explainer cannot use it as "
                f"its backbone. Choose a timm backbone with local weights (backbone 'timm:<arch>' + weights).")
        backbone = None
    elif backbone is None:
        backbone = load_backbone(config)
    if backbone is not None:
        backbone.to(model.device)
    channels, sizes = probe_features(model, config, backbone)
    decoder = L2RDecoder(config, channels, sizes, model.preprocessing.channels,
                         class_weights_for(model, config)).to(model.device)
    return Explainer(model, config, decoder, backbone)


def explainer_fingerprint(explainer: Explainer) -> str:
    """sha256 over the decoder's weights, shortened: identifies a trained explainer."""
    return str(explainer.fingerprint)  # ONNX explainers carry the one recorded at export
