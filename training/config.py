"""Training settings: the paper's published defaults, a JSON file, then command-line flags.

Precedence: dataclass defaults < ``--config FILE`` < explicit flags. The resolved config is saved
as JSON next to every checkpoint and inside the final explainer's manifest.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from l2r_core.atomic import atomic_write_text
from l2r_core.config_base import ConfigBase
from l2r_core.errors import ConfigError
from l2r_core.metrics.loss_target import AMP_MODES
from l2r_core.metrics.soft import RANKINGS, SoftLossConfig
from l2r_core.models.loading import card_from_options

AUGMENTS = ("none", "light", "heavy", "photo")
CHECKPOINTING_MODES = ("auto", "on", "off")
TARGET_MODES = ("both", "one")
SECOND_TARGETS = ("runner-up", "spread")  # training.data.second_targets
# Interior percentiles evaluated per image and step (of 16): chosen from benchmarks/bench_train_step.py
# and the equal-time comparison in the README.
DEFAULT_PERCENTILE_SAMPLES = 4


def default_loss() -> SoftLossConfig:
    return SoftLossConfig(percentile_samples=DEFAULT_PERCENTILE_SAMPLES)


def _mode(value: Any, on: str) -> Any:
    """Configs written before a setting had modes hold a bool: True -> ``on``, False -> "off"."""
    if isinstance(value, bool):
        return on if value else "off"
    return value


@dataclass
class TrainConfig(ConfigBase):
    """Everything one training run needs. Defaults are the paper's published ones (arXiv 2604.05819)."""

    config_name: ClassVar[str] = "training config"

    # What to train on and for.
    data: str = ""  # folder of images (recursive; class subfolders give labels)
    model: str = "demo-cnn"  # demo-cnn | demo-vit | timm:<arch> | PATH.pt (TorchScript)
    weights: str | None = None
    class_names: str | None = None  # a names file, for class folders named after the model's classes
    # Model card settings over the weights' own card (input_size, resize, mean, std, model_args, ...).
    model_card: dict[str, Any] = field(default_factory=dict)
    backbone: str = "target"  # "target" or timm:<arch> (required for TorchScript targets)
    backbone_weights: str | None = None
    init: str | None = None  # an existing explainer folder to fine-tune
    explainer: dict[str, Any] = field(default_factory=dict)  # ExplainerConfig overrides
    out: str = "runs/l2r-explainer"
    # Soft deletion/insertion loss (grid 7-28, tau 1.0->0.3, 30 Sinkhorn iterations, 16 percentiles, ...).
    loss: SoftLossConfig = field(default_factory=default_loss)
    # Optimiser and schedule: AdamW, warm-up 6% from lr/25, cosine to lr/25/1e4.
    lr: float = 3e-4
    weight_decay: float = 1e-3
    batch_size: int = 32  # per process (per GPU under torchrun)
    grad_clip: float = 1.0
    warmup_frac: float = 0.06
    warmup_start_div: float = 25.0
    final_div: float = 1e4
    steps: int = 0  # 0: derive from ``epochs`` over the training split (or from ``max_time``)
    epochs: float = 1.0
    # Wall-clock budget in seconds (None: none). The step count, and with it warm-up, cosine and tau
    # annealing, is fitted to what the budget holds and re-fitted as the run goes; ``steps`` caps it.
    max_time: float | None = None
    # "one": top-1 or the second target, drawn per image (twice the steps for the time, and better at
    # equal time: README); "both": each image with both targets, as in the paper.
    targets: str = "one"
    # The second class explained when top-1 is right: the paper's runner-up, or "spread" (ranks 2-10).
    second_target: str = "runner-up"
    # Data.
    image_size: int | None = None  # None: the model's own input size
    augment: str = "light"  # none | light | heavy
    val_fraction: float = 0.05
    val_every: int = 500
    val_max_images: int = 64
    # With --image-size, also validate at the model's own input size: the size the explainer is used at.
    val_native: bool = True
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    loader_threads: int = 4
    # Run.
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads of the training process (0: every core it may use)
    amp: str = "auto"  # bf16 autocast of the target: auto (CUDA only) | bf16 (CUDA, or CPUs with bf16) | off
    # Recompute the target's activations in the backward pass: "auto" only when keeping them would
    # not fit in memory (session.needs_checkpointing).
    grad_checkpointing: str = "auto"
    target_batch: int = 64  # images per target call inside the soft loss (0: all at once)
    compile: bool = False  # torch.compile the target's forward for the loss (worth it on GPUs; needs a compiler)

    def __post_init__(self) -> None:
        self.amp = _mode(self.amp, "auto")
        self.grad_checkpointing = _mode(self.grad_checkpointing, "on")

    @property
    def ranking(self) -> str:
        return self.loss.ranking

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["loss"] = self.loss.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | None = None) -> "TrainConfig":
        cfg = super().from_dict(d, source)
        cfg.validate(source or cls.config_name)
        return cfg

    @classmethod
    def prepare(cls, kwargs: dict[str, Any], source: str) -> dict[str, Any]:
        if "loss" in kwargs:
            kwargs["loss"] = _loss_from(kwargs["loss"], source)
        return kwargs

    def validate(self, source: str = "config") -> None:
        """Raise ConfigError naming the bad setting; called after every merge."""
        card_from_options(dict(self.model_card), f"{source}: model_card")
        checks = [
            (self.lr > 0, "lr must be > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.grad_clip > 0, "grad_clip must be > 0"),
            (0 <= self.warmup_frac < 1, "warmup_frac must be in [0, 1)"),
            (self.steps >= 0, "steps must be >= 0"),
            (self.epochs > 0, "epochs must be > 0"),
            (0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)"),
            (self.val_every >= 0 and self.checkpoint_every >= 0, "val_every/checkpoint_every must be >= 0"),
            (self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1"),
            (self.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}"),
            (self.loss.ranking in RANKINGS, f"ranking must be one of {', '.join(RANKINGS)}"),
            (self.loss.grid_min >= 1 and self.loss.grid_min <= self.loss.grid_max, "need 1 <= grid_min <= grid_max"),
            (self.image_size is None or self.image_size >= 8, "image_size must be >= 8"),
            (self.target_batch >= 0, "target_batch must be >= 0"),
            (self.max_time is None or self.max_time > 0, "max_time must be > 0 seconds"),
            (self.threads >= 0, "threads must be >= 0 (0: every core)"),
            (self.amp in AMP_MODES, f"amp must be one of {', '.join(AMP_MODES)}"),
            (self.grad_checkpointing in CHECKPOINTING_MODES,
             f"grad_checkpointing must be one of {', '.join(CHECKPOINTING_MODES)}"),
            (self.targets in TARGET_MODES, f"targets must be one of {', '.join(TARGET_MODES)}"),
            (self.second_target in SECOND_TARGETS,
             f"second_target must be one of {', '.join(SECOND_TARGETS)}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"{source}: {msg}.")

    def save(self, path: str | Path) -> Path:
        """Write the resolved config as JSON (atomically: temp file + rename)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(p, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")


def _loss_from(value: Any, source: str) -> SoftLossConfig:
    if isinstance(value, SoftLossConfig):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: 'loss' must be an object of soft-loss settings.")
    try:
        return SoftLossConfig.from_dict(value)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{source}: loss: {exc}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found. Check the path.") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not a valid JSON config ({exc}). Fix the file.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a training config must be a JSON object.")
    return data


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overlay ``overrides`` on ``base``; dotted keys (``loss.grid_min``) reach nested settings."""
    out = json.loads(json.dumps(base))  # deep copy of plain JSON data
    for key, value in overrides.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def resolve_config(file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                   base: TrainConfig | None = None) -> TrainConfig:
    """defaults (or ``base``) < config file < overrides (dotted keys)."""
    data = (base or TrainConfig()).to_dict()
    source = "training config"
    if file is not None:
        data = merge(data, _flatten(read_config_file(file)))
        source = str(file)
    data = merge(data, overrides or {})
    return TrainConfig.from_dict(data, source)


def _flatten(d: dict[str, Any]) -> dict[str, Any]:
    """{"loss": {"grid_min": 5}} -> {"loss.grid_min": 5} so a file may set a few nested keys."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in ("loss",) and isinstance(v, dict):
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out


def with_changes(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    new = replace(cfg, **changes)
    new.validate()
    return new
