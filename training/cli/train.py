"""`l2r train`: train or fine-tune an explainer from the command line (also under torchrun).

The lead's ``l2r`` entry point calls ``add_train_parser`` and ``run_train``; ``python -m
l2r_training.cli.train train ...`` runs the same thing on its own (tests, torchrun).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from l2r_core.errors import L2RError
from l2r_core.images import set_max_pixels
from l2r_core.progress import CancelToken
from l2r_core.explainer.config import CLASS_SOURCES
from l2r_core.ranking import NORMALIZE_MODES

from ..budget import parse_duration
from .common import add_card_args, add_image_args, card_options
from ..config import (SECOND_TARGETS, AMP_MODES, AUGMENTS, CHECKPOINTING_MODES, DEFAULT_PERCENTILE_SAMPLES, RANKINGS,
                     TARGET_MODES, TrainConfig, resolve_config)

# (flag, config key, type, help). Flags default to None so only the ones given override the file.
FLAGS: list[tuple[str, str, Callable[[str], Any], str]] = [
    ("--data", "data", str, "folder of training images (recursive; class subfolders give labels)"),
    ("--model", "model", str, "demo-cnn | demo-vit | timm:<arch> | PATH.pt (TorchScript)"),
    ("--weights", "weights", str, "weights for timm:<arch> (.safetensors or .pth)"),
    ("--class-names", "class_names", str, "class names file (.txt one per line, or .json)"),
    ("--backbone", "backbone", str, "'target' (default) or timm:<arch>; required for TorchScript models"),
    ("--backbone-weights", "backbone_weights", str, "weights of the timm backbone"),
    ("--init", "init", str, "fine-tune this explainer folder instead of starting fresh"),
    ("--out", "out", str, "output folder (checkpoints, metrics.jsonl, explainer/)"),
    ("--steps", "steps", int, "optimisation steps (default: --epochs over the training split)"),
    ("--epochs", "epochs", float, "passes over the training split when --steps is not given (default 1)"),
    ("--batch-size", "batch_size", int, "images per step and process (default 32)"),
    ("--lr", "lr", float, "peak learning rate (default 3e-4)"),
    ("--weight-decay", "weight_decay", float, "AdamW weight decay (default 1e-3)"),
    ("--clip", "grad_clip", float, "gradient-norm clipping (default 1.0)"),
    ("--warmup", "warmup_frac", float, "warm-up fraction of the steps (default 0.06)"),
    ("--grid-min", "loss.grid_min", int, "smallest ranking grid G (default 7)"),
    ("--grid-max", "loss.grid_max", int, "largest ranking grid G (default 28)"),
    ("--tau-start", "loss.tau_start", float, "Sinkhorn temperature at the start (default 1.0)"),
    ("--tau-end", "loss.tau_end", float, "Sinkhorn temperature at the end (default 0.3)"),
    ("--sinkhorn-iters", "loss.n_iters", int, "Sinkhorn iterations (default 30)"),
    ("--percentiles", "loss.n_percentiles", int, "points on the soft curves (default 16)"),
    ("--percentile-samples", "loss.percentile_samples", int,
     f"interior curve points evaluated per image and step, an unbiased estimate "
     f"(default {DEFAULT_PERCENTILE_SAMPLES}; 0: every point)"),
    ("--w-del", "loss.w_del", float, "deletion AUC weight (default 1)"),
    ("--w-ins", "loss.w_ins", float, "insertion weight (default 1)"),
    ("--w-peak", "loss.w_peak", float, "peak penalty weight (default 0.0025)"),
    ("--score-cap", "loss.score_cap", float, "bound on each map's score spread in the ranking (default 5)"),
    ("--buckets", "loss.n_buckets", int, "percentile buckets of --ranking buckets"),
    ("--bucket-resolution", "loss.bucket_resolution", int, "cells per side ranked by --ranking buckets"),
    ("--threshold-temperature", "loss.threshold_temperature", float,
     "sigmoid temperature of --ranking threshold, in units of the map's std (default 0.1)"),
    ("--image-size", "image_size", int, "square input size (default: the model's)"),
    ("--val-fraction", "val_fraction", float, "share of images held out for validation (default 0.05)"),
    ("--val-every", "val_every", int, "validate every N steps (0: only at the end)"),
    ("--val-images", "val_max_images", int, "validation images used at most (default 64)"),
    ("--checkpoint-every", "checkpoint_every", int, "checkpoint every N steps (default 500)"),
    ("--keep-checkpoints", "keep_checkpoints", int, "checkpoints kept (default 2)"),
    ("--loader-threads", "loader_threads", int, "image decoding threads (default 4)"),
    ("--target-batch", "target_batch", int, "images per target call in the loss (default 64; 0: all)"),
    ("--seed", "seed", int, "random seed (default 0)"),
    ("--threads", "threads", int, "CPU threads (default 0: every core this process may use)"),
    ("--device", "device", str, "auto | cpu | cuda | cuda:N (default auto)"),
]

# (flag, config key, choices, help): the method's variants, also offered by the training wizard.
CHOICE_FLAGS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("--ranking", "loss.ranking", RANKINGS,
     "full N x N Gumbel-Sinkhorn on a grid of cells (paper), rank buckets, or threshold "
     "(each pixel against the map's own quantiles, on the 21-point aha curve)"),
    ("--class-source", "explainer.class_source", CLASS_SOURCES,
     "class embedding: table (a learned row per class, the paper) or classifier (plus a learned "
     "projection of the model's own classifier weights; for classes seldom seen in training)"),
    ("--second-target", "second_target", SECOND_TARGETS,
     "the second class when top-1 is right: runner-up (the paper; default) or spread "
     "(a class drawn from ranks 2-10, for class-sensitive maps on many-class models)"),
]


def add_train_parser(subparsers: Any) -> None:
    """Add the ``train`` subcommand and its flags to an argparse subparsers object."""
    p = subparsers.add_parser("train", help="train or fine-tune an L2R explainer",
                              description="Train or fine-tune a learn-to-rank explainer for a model on a folder of "
                              "images. Settings: defaults < --config FILE < flags. Runs under torchrun too.")
    p.add_argument("images", nargs="?", default=None, metavar="IMAGES_DIR",
                   help="folder of training images (same as --data)")
    p.add_argument("--config", help="JSON file of training settings (flags override it)")
    p.add_argument("--resume", metavar="DIR", help="resume the run in DIR (its --out folder or a checkpoint)")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds an earlier run")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    add_image_args(p)
    for flag, key, typ, text in FLAGS:
        p.add_argument(flag, dest=_dest(key), type=typ, default=None, help=text,
                       metavar=flag.lstrip("-").upper().replace("-", "_"))
    p.add_argument("--references", dest=_dest("loss.references"), default=None, metavar="KINDS",
                   type=lambda v: [r.strip() for r in v.split(",") if r.strip()],
                   help="reference kinds drawn per step, comma-separated (default black,mean,blur)")
    for flag, key, choices, text in CHOICE_FLAGS:
        p.add_argument(flag, dest=_dest(key), choices=choices, default=None, help=text)
    p.add_argument("--class-evidence", dest=_dest("explainer.class_evidence"), action=argparse.BooleanOptionalAction,
                   default=None, help="add the class's evidence map (its classifier row applied to the map the head "
                   "pools) to the decoder, which learns a correction of it; needs --class-source classifier and a "
                   "CNN target (default off)")
    p.add_argument("--normalize", dest=_dest("loss.normalize"), choices=NORMALIZE_MODES, default=None,
                   help="scores into the ranking: softcap (default; spread bounded by --score-cap), "
                   "none (the paper's raw scores; can diverge) or minmax")
    p.add_argument("--augment", dest=_dest("augment"), choices=AUGMENTS, default=None,
                   help="augmentation strength (default light)")
    p.add_argument("--max-time", dest=_dest("max_time"), type=_duration, default=None, metavar="DURATION",
                   help="wall-clock budget (600, 90s, 10m, 2h): the step count and schedule are fitted to it; "
                   "--steps caps it")
    p.add_argument("--targets", dest=_dest("targets"), choices=TARGET_MODES, default=None,
                   help="explained classes per image and step: one of top-1 and second, drawn per image (default), "
                   "or both (the paper)")
    p.add_argument("--amp", dest=_dest("amp"), choices=AMP_MODES, default=None, nargs="?", const="bf16",
                   help="bf16 autocast of the target: auto (CUDA only; default), bf16 (CUDA, or a CPU with "
                   "native bf16), off")
    p.add_argument("--no-amp", dest=_dest("amp"), action="store_const", const="off", help="same as --amp off")
    p.add_argument("--grad-checkpointing", dest=_dest("grad_checkpointing"), choices=CHECKPOINTING_MODES,
                   default=None, nargs="?", const="on",
                   help="recompute the target's activations in backward: auto (default: only when they would "
                   "not fit in memory), on, off")
    p.add_argument("--val-native", dest=_dest("val_native"), action=argparse.BooleanOptionalAction, default=None,
                   help="with --image-size, also validate at the model's own input size, the size the explainer "
                   "is used at (default on; logged as native_del_auc / native_ins_auc)")
    p.add_argument("--compile", dest=_dest("compile"), action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the target's forward in the loss (default off; for GPUs)")
    p.add_argument("--no-grad-checkpointing", dest=_dest("grad_checkpointing"), action="store_const",
                   const="off", help="same as --grad-checkpointing off")
    add_card_args(p.add_argument_group("model card (see `l2r model-card`)"), class_names=False)
    p.set_defaults(run=run_train)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except L2RError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dest(key: str) -> str:
    return "cfg__" + key.replace(".", "__")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys of the flags actually given."""
    return {k[len("cfg__"):].replace("__", "."): v for k, v in vars(args).items()
            if k.startswith("cfg__") and v is not None}


def resolve_args(args: argparse.Namespace) -> tuple[TrainConfig, Path | None]:
    """The resolved config and the checkpoint to resume from (None: a fresh run)."""
    overrides = overrides_from_args(args)
    card = card_options(args)
    if card:
        overrides["model_card"] = card
    if getattr(args, "images", None):
        overrides.setdefault("data", args.images)
    if not args.resume:
        cfg = resolve_config(args.config, overrides)
        if not cfg.data:
            raise L2RError("l2r train: give --data FOLDER (a folder of images), or --resume DIR.")
        return cfg, None
    from ..checkpoint import find_checkpoint, read_checkpoint, run_folder

    folder = find_checkpoint(args.resume)
    base = read_checkpoint(folder).config
    overrides.setdefault("out", str(run_folder(folder)))
    return resolve_config(args.config, overrides, base=base), folder


class CliProgress(CancelToken):
    """One updating status line on a terminal (a line every 10 s otherwise); cancelled by signals."""

    def __init__(self, quiet: bool = False, stream: Any = None) -> None:
        super().__init__()
        self.quiet, self.stream = quiet, stream or sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0

    def step(self, done: int, total: int, message: str = "") -> None:
        super().step(done, total, message)  # raises Cancelled once a signal asked to stop
        now = time.monotonic()
        if self.quiet or (not self._tty and now - self._last < 10 and done < total):
            return
        self._last = now
        pct = 100.0 * done / max(total, 1)
        line = f"step {done}/{total} ({pct:.0f}%)  {message}"
        self.stream.write(f"\r{line:<79}" if self._tty else line + "\n")
        if self._tty and done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _install_signals(progress: CliProgress) -> Callable[[], None]:
    """SIGINT/SIGTERM: finish the current step, checkpoint, exit; a second Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        if progress.cancelled:
            raise KeyboardInterrupt
        progress.cancel()
        print(f"\n{signal.Signals(signum).name}: saving a checkpoint after this step "
              f"(Ctrl-C again to stop at once)", file=sys.stderr, flush=True)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, previous in old.items():
            signal.signal(sig, previous)

    return restore


def run_train(args: argparse.Namespace) -> int:
    """Run ``l2r train``; returns 0 when done, 130 when interrupted (a checkpoint was saved)."""
    from l2r_core.models.loading import load_model

    from ..loop import train

    cfg, resume = resolve_args(args)
    model = load_model(cfg.model, weights=cfg.weights, class_names=cfg.class_names, **cfg.model_card)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    progress = CliProgress(quiet=args.quiet or not rank0)
    restore = _install_signals(progress)
    # the loader reads images in its own threads: the limit is the process's for this command
    old_limit = set_max_pixels(args.max_pixels) if args.max_pixels is not None else None
    try:
        result = train(cfg, model, None, progress, resume=resume, overwrite=bool(args.overwrite))
    finally:
        restore()
        if old_limit is not None:
            set_max_pixels(old_limit)
    if rank0:
        print(result.message, file=sys.stderr if result.status != "done" else sys.stdout, flush=True)
        if result.val:
            print(f"validation ({result.val.get('protocol')}): deletion AUC {result.val['del_auc']:.4f}, "
                  f"insertion AUC {result.val['ins_auc']:.4f}", flush=True)
    return 0 if result.status == "done" else 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="l2r")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except L2RError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
