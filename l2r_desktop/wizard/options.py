"""The wizard's choices as plain data (no Qt): defaults read from ``TrainConfig``, the reason a page
is not complete yet, the ``l2r train`` command line they mean, and the folders they name: an earlier
run in the output folder, an output folder worth keeping (a trained explainer, or the one in use)
and a fresh name next to it, and an explainer folder to fine-tune.

Keeping this free of Qt makes the rules testable directly and lets the view-model stay small.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from l2r_core.errors import ConfigError
from l2r_core.models.card import read_card
from l2r_core.explainer.config import ExplainerConfig
from l2r_training.cli.train import CHOICE_FLAGS, FLAGS
from l2r_training.config import TrainConfig
from l2r_training.session import training_threads

from ..card_fields import card_from_fields, card_values, train_flags

__all__ = ["WizardOptions", "train_args", "resume_args", "total_steps", "training_threads",
           "RunInfo", "existing_run", "fresh_folder", "init_reason", "out_in_use"]

MODEL_KINDS = ("timm", "torchscript", "demo-cnn", "demo-vit")
DEVICES = ("auto", "cpu", "cuda")
# Shown under "Advanced" (dotted TrainConfig keys, label): the method's published settings, then the
# variants of l2r train (the threshold relaxation, the classifier class source and its evidence map,
# the spread second target).
ADVANCED: list[tuple[str, str]] = [
    ("loss.grid_min", "Ranking grid, smallest G"),
    ("loss.grid_max", "Ranking grid, largest G"),
    ("loss.tau_start", "Sinkhorn temperature, start"),
    ("loss.tau_end", "Sinkhorn temperature, end"),
    ("loss.n_iters", "Sinkhorn iterations"),
    ("loss.n_percentiles", "Percentiles on the soft curves"),
    ("loss.references", "References (drawn per step)"),
    ("loss.ranking", "Ranking relaxation"),
    ("loss.threshold_temperature", "Threshold temperature (x map std)"),
    ("explainer.class_source", "Class embedding"),
    ("explainer.class_evidence", "Add the class's evidence map"),
    ("second_target", "Second explained class"),
    ("loss.w_del", "Loss weight: deletion AUC"),
    ("loss.w_ins", "Loss weight: 1 - insertion AUC"),
    ("loss.w_peak", "Loss weight: peak penalty"),
    ("weight_decay", "AdamW weight decay"),
    ("warmup_frac", "Warm-up fraction"),
    ("checkpoint_every", "Checkpoint every N steps"),
]
_FLAG_OF = {key: flag for flag, key, _typ, _help in FLAGS + CHOICE_FLAGS}
# Flags set up outside those lists:
_FLAG_OF.update({"loss.references": "--references", "explainer.class_evidence": "--class-evidence"})
CHOICES: dict[str, tuple[str, ...]] = {key: choices for _flag, key, choices, _help in CHOICE_FLAGS}
_ARCH = re.compile(r"^[A-Za-z0-9_.\-]+$")


def default_of(key: str) -> Any:
    """The TrainConfig default of a dotted key (``loss.grid_min``), never a copy kept here.
    ``explainer.*`` keys are overrides of ExplainerConfig, so its defaults apply."""
    if key.startswith("explainer."):
        return getattr(ExplainerConfig(), key.split(".", 1)[1])
    node: Any = TrainConfig()
    for part in key.split("."):
        node = getattr(node, part)
    return list(node) if isinstance(node, tuple) else node


def advanced_defaults() -> dict[str, Any]:
    return {key: default_of(key) for key, _ in ADVANCED}


def _default_unit() -> str:
    return "steps" if TrainConfig().steps else "epochs"


@dataclass
class WizardOptions:
    """Everything the user chose, page by page. Defaults come from TrainConfig."""

    # Page 1: model.
    model_kind: str = "timm"
    arch: str = ""
    weights: str = ""
    script: str = ""  # TorchScript file
    class_names: str = ""
    # Model card settings ("": the card's or the model's own); passed as `l2r train` flags.
    model_card: str = ""
    input_size: str = ""  # N or HxW
    resize: str = ""  # crop | squash | pad
    mean: str = ""  # 1 or 3 comma-separated values
    std: str = ""
    backbone: str = ""  # timm architecture of a separate backbone ("" = the target's own features)
    backbone_weights: str = ""
    # Page 2: data.
    data: str = ""
    val_percent: float = field(default_factory=lambda: round(100 * TrainConfig().val_fraction, 2))
    # Page 3: settings.
    image_size: int = 0  # 0: the model's own input size
    length_unit: str = field(default_factory=_default_unit)  # "steps" | "epochs"
    steps: int = field(default_factory=lambda: TrainConfig().steps or 1000)
    epochs: float = field(default_factory=lambda: TrainConfig().epochs)
    batch_size: int = field(default_factory=lambda: TrainConfig().batch_size)
    lr: float = field(default_factory=lambda: TrainConfig().lr)
    device: str = field(default_factory=lambda: TrainConfig().device)
    val_every: int = field(default_factory=lambda: TrainConfig().val_every)
    max_minutes: int = 0  # wall-clock budget (0: none); the schedule is fitted to it
    threads: int = field(default_factory=lambda: TrainConfig().threads)  # 0: every core
    out: str = ""
    init: str = ""  # an explainer folder to fine-tune (`l2r train --init`); "": a new explainer
    advanced: dict[str, Any] = field(default_factory=advanced_defaults)
    extra_config: str = ""  # optional JSON file for settings the wizard does not show
    resume_existing: bool = True  # when the output folder holds an earlier run

    # -- model -----------------------------------------------------------------------------
    def spec(self) -> str:
        """The model as ``l2r train --model`` and ``load_model`` name it."""
        if self.model_kind == "timm":
            return f"timm:{self.arch.strip()}"
        if self.model_kind == "torchscript":
            return self.script.strip()
        return self.model_kind

    def model_weights(self) -> str:
        return self.weights.strip() if self.model_kind == "timm" else ""

    def card_fields(self) -> dict[str, str]:
        """The preprocessing fields by model-card key (text, "" = not set)."""
        return {"input_size": self.input_size, "resize": self.resize, "mean": self.mean, "std": self.std}

    def load_options(self) -> dict[str, Any]:
        """``load_model`` keywords of the card file and the fields that are set."""
        options = card_values(self.card_fields())
        if self.model_card.strip():
            options["card"] = self.model_card.strip()
        return options

    def model_key(self) -> tuple[str, ...]:
        """What a model check was made for: a check of other inputs no longer counts."""
        return (self.spec(), self.model_weights(), self.class_names.strip(),
                json.dumps(self.load_options(), sort_keys=True))

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WizardOptions":
        """Known keys of the right type only: a stale or hand-edited store never breaks the wizard."""
        opts = cls()
        for f in fields(cls):
            if f.name not in data:
                continue
            value, current = data[f.name], getattr(opts, f.name)
            if isinstance(current, bool) != isinstance(value, bool):
                continue
            if isinstance(current, float) and isinstance(value, int):
                value = float(value)
            if isinstance(value, type(current)):
                setattr(opts, f.name, value)
        adv = advanced_defaults()
        adv.update({k: v for k, v in opts.advanced.items() if k in adv})
        opts.advanced = adv
        return opts


# -- reasons a page is not complete ("" = complete) -------------------------------------------
def _file_reason(path: str, what: str) -> str:
    if not path.strip():
        return f"Choose the {what}."
    if not Path(path.strip()).is_file():
        return f"The {what} {path.strip()} does not exist."
    return ""


def model_input_reason(o: WizardOptions) -> str:
    """Problems visible without loading the model."""
    if o.model_kind not in MODEL_KINDS:
        return f"Unknown model kind {o.model_kind}."
    if o.model_kind == "timm":
        if not o.arch.strip():
            return "Type the timm architecture name (for example resnet50)."
        if not _ARCH.match(o.arch.strip()):
            return f"'{o.arch.strip()}' is not a timm architecture name."
        if reason := _file_reason(o.weights, "weights file (.safetensors or .pth)"):
            return reason
    if o.model_kind == "torchscript" and (reason := _file_reason(o.script, "TorchScript file")):
        return reason
    if o.class_names.strip() and (reason := _file_reason(o.class_names, "class names file")):
        return reason
    if reason := card_reason(o):
        return reason
    if o.backbone.strip():
        if not _ARCH.match(o.backbone.strip()):
            return f"'{o.backbone.strip()}' is not a timm architecture name."
        if reason := _file_reason(o.backbone_weights, "backbone weights file"):
            return reason
    return ""


def card_reason(o: WizardOptions) -> str:
    """A model card file that cannot be read, or a preprocessing field that does not parse."""
    try:
        if o.model_card.strip():
            if reason := _file_reason(o.model_card, "model card file"):
                return reason
            read_card(o.model_card.strip())
        card_from_fields(o.card_fields(), "Model page")
    except ConfigError as exc:
        return str(exc)
    return ""


def settings_reason(o: WizardOptions) -> str:
    if not o.out.strip():
        return "Choose an output folder for the checkpoints and the explainer."
    out = Path(o.out.strip())
    if out.exists() and not out.is_dir():
        return f"{out} is a file; choose a folder."
    if o.data.strip() and out.resolve() == Path(o.data.strip()).resolve():
        return "The output folder must not be the image folder."
    if not (math.isfinite(o.lr) and o.lr > 0):
        return "The learning rate must be a number above 0."
    if o.length_unit == "steps" and o.steps < 1 or o.length_unit == "epochs" and not o.epochs > 0:
        return "Train for at least one step."
    if o.max_minutes < 0 or o.threads < 0:
        return "The time limit and the thread count must not be negative."
    if o.batch_size < 1:
        return "The batch size must be at least 1."
    if reason := init_reason(o.init):
        return reason
    return advanced_reason(o.advanced) or (
        _file_reason(o.extra_config, "extra config file") if o.extra_config.strip() else "")


def advanced_reason(adv: dict[str, Any]) -> str:
    if int(adv["loss.grid_min"]) > int(adv["loss.grid_max"]):
        return "The smallest ranking grid must not exceed the largest."
    if not float(adv["loss.tau_start"]) > 0 or not float(adv["loss.tau_end"]) > 0:
        return "Sinkhorn temperatures must be above 0."
    if not adv["loss.references"]:
        return "Tick at least one reference (black, mean or blur)."
    if int(adv["loss.n_percentiles"]) < 2:
        return "Use at least 2 percentiles."
    if not float(adv["loss.threshold_temperature"]) > 0:
        return "The threshold temperature must be above 0."
    if adv["explainer.class_evidence"] and adv["explainer.class_source"] != "classifier":
        return "The class's evidence map needs the classifier class embedding."
    return ""


# -- the command line -------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def train_args(o: WizardOptions, *, out: str | None = None, overwrite: bool = False,
               steps: int | None = None, val_every: int | None = None) -> list[str]:
    """``l2r train`` arguments for a fresh run. Advanced settings left at their defaults are not
    passed, so an extra config file may set them (flags override the file)."""
    args = ["train", o.data.strip(), "--model", o.spec(), "--out", out or o.out.strip()]
    if o.model_weights():
        args += ["--weights", o.model_weights()]
    if o.class_names.strip():
        args += ["--class-names", o.class_names.strip()]
    if o.model_card.strip():
        args += ["--model-card", o.model_card.strip()]
    args += train_flags(o.card_fields())  # only the fields that are set
    if o.backbone.strip():
        args += ["--backbone", f"timm:{o.backbone.strip()}", "--backbone-weights", o.backbone_weights.strip()]
    if o.init.strip():
        args += ["--init", o.init.strip()]
    if steps is not None or o.length_unit == "steps":
        args += ["--steps", str(steps if steps is not None else o.steps)]  # with a time limit: at most
    elif not o.max_minutes:  # a time limit alone decides the length
        args += ["--epochs", _fmt(float(o.epochs))]
    if o.max_minutes and steps is None:
        args += ["--max-time", f"{o.max_minutes}m"]
    if o.threads:
        args += ["--threads", str(o.threads)]
    args += ["--batch-size", str(o.batch_size), "--lr", _fmt(float(o.lr)), "--device", o.device,
             "--val-fraction", _fmt(o.val_percent / 100.0),
             "--val-every", str(o.val_every if val_every is None else val_every)]
    if o.image_size:
        args += ["--image-size", str(o.image_size)]
    for key, value in o.advanced.items():
        if value == default_of(key):
            continue
        if isinstance(value, bool):  # a switch: --flag or --no-flag
            args.append(_FLAG_OF[key] if value else "--no-" + _FLAG_OF[key][2:])
        else:
            args += [_FLAG_OF[key], _fmt(value)]
    if o.extra_config.strip():
        args += ["--config", o.extra_config.strip()]
    if overwrite:
        args.append("--overwrite")
    return args + ["--quiet"]


def resume_args(out: str | Path, device: str) -> list[str]:
    """Resume the run in ``out`` with the settings saved in its checkpoint."""
    return ["train", "--resume", str(out), "--device", device, "--quiet"]


def total_steps(o: WizardOptions, n_train: int) -> int:
    """The run's length in steps, as the trainer computes it (steps_for_epochs, one process)."""
    if o.length_unit == "steps":
        return max(1, o.steps)
    return max(1, math.ceil(o.epochs * max(n_train, 1) / max(o.batch_size, 1)))


# -- the folders the options name (read without torch) ------------------------------------------
@dataclass
class RunInfo:
    folder: Path
    step: int  # steps completed at the latest checkpoint
    total: int  # 0 when unknown
    finished: bool  # the explainer was saved and the last checkpoint is the final step
    checkpoint: Path | None = None  # the latest checkpoint folder (explainer.json + safetensors + state)


def existing_run(out: str | Path) -> RunInfo | None:
    """The run in ``out`` (checkpoints/latest names its newest checkpoint), read without torch."""
    folder = Path(out)
    latest = folder / "checkpoints" / "latest"
    if not str(out).strip() or not latest.is_file():
        return None
    name = latest.read_text(encoding="utf-8").strip()
    m = re.fullmatch(r"step_(\d+)", name)
    if m is None or not (folder / "checkpoints" / name).is_dir():
        return None
    step, total = int(m.group(1)), _total_from(folder)
    finished = (folder / "explainer" / "explainer.json").is_file() and total > 0 and step >= total
    return RunInfo(folder, step, total, finished, folder / "checkpoints" / name)


def _total_from(folder: Path) -> int:
    """The run's length from the last line of its metrics log (read from the end: logs grow long)."""
    log = folder / "metrics.jsonl"
    try:
        with open(log, "rb") as f:
            f.seek(max(0, log.stat().st_size - 8192))
            lines = f.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("total"):
            return int(rec["total"])
    return 0


# -- an output folder worth keeping -----------------------------------------------------------
def _inside(path: str, folder: Path) -> bool:
    try:
        p, f = Path(path).resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return False
    return p == f or f in p.parents


def out_in_use(out: str, in_use: tuple[str, ...] = ()) -> str:
    """Why a fresh run in ``out`` would replace something the user has ("" = nothing): the explainer
    loaded in the main window (``in_use``) or any trained explainer lies in it."""
    folder = Path(out.strip())
    if not out.strip() or not folder.is_dir():
        return ""
    if any(path and _inside(path, folder) for path in in_use):
        return "holds the explainer in use in the main window"
    if (folder / "explainer.json").is_file() or (folder / "explainer" / "explainer.json").is_file():
        return "holds a trained explainer"
    return ""


def fresh_folder(out: str | Path) -> Path:
    """A folder name next to ``out`` that does not exist yet: NAME-2, NAME-3, ... (NAME-2 gives NAME-3)."""
    base = Path(str(out).strip())
    m = re.fullmatch(r"(.+)-(\d{1,3})", base.name)
    stem, n = (m.group(1), int(m.group(2))) if m else (base.name, 1)
    while True:
        n += 1
        candidate = base.with_name(f"{stem}-{n}")
        if not candidate.exists():
            return candidate


# -- an explainer to start from ---------------------------------------------------------------
def init_reason(init: str) -> str:
    """What is wrong with ``init`` as ``l2r train --init`` (it must hold explainer.json); "" when it is
    fine or empty (a new explainer)."""
    if not init.strip():
        return ""
    folder = Path(init.strip())
    if (folder / "explainer.json").is_file():
        return ""
    if (folder / "explainer" / "explainer.json").is_file():
        return (f"{folder} is a training run's folder, not an explainer folder: to start from its explainer "
                f"choose {folder / 'explainer'}.")
    fix = ("choose a folder that holds explainer.json (the 'explainer' folder of a finished run, or one of its "
           "checkpoints/step_* folders), or clear the field to train a new explainer.")
    if not folder.is_dir():
        return f"The explainer folder {folder} does not exist: {fix}"
    return f"The folder {folder} holds no explainer.json, so it is not an explainer: {fix}"
