"""Explainer hyper-parameters: everything needed to rebuild the decoder, saved next to its weights."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..config_base import ConfigBase
from ..errors import ConfigError

CLASS_SOURCES = ("table", "classifier")


@dataclass
class ExplainerConfig(ConfigBase):
    """Architecture of the learned explainer (the paper's DPT-style decoder, arXiv 2604.05819).

    Channel widths deviate from the paper (stage 256 / fusion 128): the paper's head sits on a
    ViT-L; ours must run on a laptop CPU next to the target. With 64 / 32 (and an 8-channel
    refine block) one ``explain`` call on the demo CNN at 224x224 costs about 1.3x one target
    forward pass on one CPU thread (1.1-1.43x over runs on a busy machine; the paper's widths:
    4x), see benchmarks/explainer_cost.py. ``ExplainerConfig.paper()`` gives 256 / 128 / 32.
    """

    config_name: ClassVar[str] = "explainer config"

    backbone: str = "target"  # "target": the target's own features; else "timm:<arch>" + backbone_weights
    backbone_weights: str | None = None
    feature_indices: int | list[int] = 4  # timm forward_intermediates(indices=...)
    stage_channels: int = 64  # reassemble width (paper: 256)
    fusion_channels: int = 32  # fusion width (paper: 128)
    head_channels: int = 8  # refine block width at input resolution (DPT head: 32)
    embed_dim: int = 64  # class-embedding width
    # Our extension (off = the paper): the normalised input image joins the refine block at full
    # resolution, so the map can follow pixel detail that the backbone's grid (a ViT's patches)
    # cannot place.
    image_skip: bool = False
    # Where a class's embedding comes from. "table": a learned row per class (the paper; it needs
    # many images of every class). "classifier" (our extension): that row plus a learned projection
    # of the target's own classifier weights for the class, so classes seldom or never seen in
    # training still get a meaningful embedding. Needs a torch target whose head is a Linear layer.
    class_source: str = "table"
    # Our extension (needs class_source "classifier" and the target as backbone): the class's
    # evidence map, its classifier row applied at every position of the map the head pools (the
    # class activation map of a pooled-then-linear head), joins the decoder's deepest level and is
    # added to its output. The decoder then learns a correction of that map instead of finding the
    # class's evidence through its narrow channels.
    class_evidence: bool = False
    num_classes: int = 1000
    input_size: tuple[int, int] = (224, 224)

    def __post_init__(self) -> None:
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if isinstance(self.feature_indices, (list, tuple)):
            self.feature_indices = [int(i) for i in self.feature_indices]
        for name in ("stage_channels", "fusion_channels", "head_channels", "embed_dim", "num_classes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"explainer config: {name} must be a positive integer, got {getattr(self, name)}")
        if self.class_source not in CLASS_SOURCES:
            raise ConfigError(f"explainer config: class_source must be one of {', '.join(CLASS_SOURCES)}, "
                              f"got '{self.class_source}'")
        if self.class_evidence and (self.class_source != "classifier" or self.backbone != "target"):
            raise ConfigError("explainer config: class_evidence needs class_source 'classifier' and backbone "
                              "'target' (it reads the target's own classifier and the map its head pools)")
        if self.backbone != "target" and not self.backbone.startswith("timm:"):
            raise ConfigError(f"explainer config: backbone must be 'target' or 'timm:<arch>', got '{self.backbone}'")

    @classmethod
    def paper(cls, **overrides: Any) -> "ExplainerConfig":
        """The paper's channel widths (stage 256, fusion 128, head 32)."""
        base: dict[str, Any] = dict(stage_channels=256, fusion_channels=128, head_channels=32)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def prepare(cls, kwargs: dict[str, Any], source: str) -> dict[str, Any]:
        if "input_size" in kwargs:
            kwargs["input_size"] = tuple(kwargs["input_size"])
        return kwargs
