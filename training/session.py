"""Everything one training run holds (model, explainer, optimiser, data, log), built in one place.

``prepare`` handles the three starts: fresh (``build_explainer``), fine-tune (``--init`` or a given
explainer) and resume (a checkpoint), and the device set-up: DDP, CPU threads, bf16 autocast and
gradient checkpointing of the target (only when its activations would not fit in memory).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import numpy as np
import torch
from torch import nn

from l2r_core.errors import ConfigError
from l2r_core.explainer import Explainer, ExplainerConfig, build_explainer, load_explainer, with_extensions
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.metrics.loss_target import TargetForLoss, autocast_context, use_bf16
from l2r_core.metrics.references import make_reference
from l2r_core.metrics.soft import soft_rank_loss
from l2r_core.models.adapter import ModelAdapter

from . import ddp
from .checkpoint import checkpoints_dir, read_checkpoint, remove_stale_temps, restore
from .config import TrainConfig
from .data import BatchLoader, load_fixed, scan_folder, split_indices, steps_for_epochs
from .metrics_log import EtaClock, MetricsLog
from .schedule import ScheduleLength, make_scheduler

VAL_PROTOCOL = "aha"  # the paper's evaluation: hard argsort, 21 points, mean-colour reference, softmax
PROVISIONAL_STEPS = 1000  # a budgeted run's step count until its first steps have been timed


@dataclass
class Session:
    config: TrainConfig
    model: ModelAdapter
    explainer: Explainer
    decoder: nn.Module  # the DDP wrapper under torchrun, else explainer.decoder
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loader: BatchLoader
    val_x: torch.Tensor
    val_native_x: torch.Tensor  # the validation images at the model's own size (empty: same as val_x)
    log: MetricsLog
    dist: ddp.DistInfo
    device: torch.device
    out: Path
    start_step: int
    length: ScheduleLength  # the step count; a time budget refits it (``total``)
    clock: EtaClock
    current_step: int = 0
    params: list[nn.Parameter] = field(default_factory=list)
    bf16: bool = False  # autocast of the target (resolved from config.amp by ``use_bf16``)
    checkpointing: bool = False  # resolved from config.grad_checkpointing by ``needs_checkpointing``
    threads_before: int = 0  # the caller's torch thread count, given back by ``close``
    target_logits: Callable[[torch.Tensor], torch.Tensor] | None = None  # compiled once (config.compile)

    @property
    def total(self) -> int:
        return self.length.total

    @total.setter
    def total(self, value: int) -> None:
        self.length.total = int(value)

    def autocast(self) -> ContextManager[Any]:
        return autocast_context(self.device, self.bf16)()

    def loss_fn(self, x: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor, *, grid: int,
                reference: str, tau: float, seed: int) -> torch.Tensor:
        """The soft deletion/insertion loss (+ peak penalty) averaged over the batch."""
        cfg = self.config.loss
        ref = make_reference(reference, x, self.model.preprocessing, cfg.blur_size, cfg.blur_sigma)
        if self.target_logits is None and self.config.compile:
            self.target_logits = torch.compile(self.model.logits, dynamic=True)
        model = TargetForLoss(self.model, self.autocast, self.checkpointing, self.target_logits)
        gen = torch.Generator(device=x.device).manual_seed(seed)
        loss, _ = soft_rank_loss(model, x, maps.float(), targets, grid=grid, reference=ref, tau=tau,  # type: ignore[arg-type]
                                 config=cfg, generator=gen, batch_limit=self.config.target_batch or None)
        return loss

    def close(self) -> None:
        if self.threads_before:
            torch.set_num_threads(self.threads_before)
        self.loader.close()
        self.log.close()
        ddp.cleanup(self.dist)


def resize_preprocessing(model: ModelAdapter, size: int | None) -> None:
    """--image-size: train (and save the explainer) at another square input size."""
    pre = model.preprocessing
    if size is None or tuple(pre.input_size) == (size, size):
        return
    model.preprocessing = dataclasses.replace(pre, input_size=(size, size))


def training_threads(requested: int, local_world: int = 1) -> int:
    """``requested`` threads, or (0) this process's share of the cores it may run on; an explicit
    OMP_NUM_THREADS, the usual way to pin a process's threads, is kept."""
    if requested > 0:
        return requested
    if os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        return torch.get_num_threads()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    return max(1, cores // max(local_world, 1))


def activation_bytes(model: ModelAdapter, input_shape: tuple[int, ...], ctx: Callable[[], ContextManager[Any]]) -> int:
    """Bytes autograd keeps per image for a forward through the target (input requiring grad).

    Measured as the difference between batches of 2 and 1, since the weights that layers save for
    their backward do not grow with the batch."""
    def saved(batch: int) -> int:
        seen: dict[int, int] = {}  # storage address -> bytes: a tensor saved by several ops counts once

        def pack(t: torch.Tensor) -> torch.Tensor:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
            return t

        x = torch.zeros((batch, *input_shape[1:]), device=model.device, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), ctx():
            model.logits(x)
        return sum(seen.values())

    try:
        return max(saved(2) - saved(1), 0)
    except RuntimeError:  # TorchScript rejects saved-tensor hooks: nothing known, nothing claimed
        return 0


def free_memory_bytes(device: torch.device) -> int | None:
    """Memory the run may still take: free CUDA memory, or the OS's available RAM (None: unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:  # Linux: MemAvailable counts the page cache the kernel would give up
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def images_with_grad_per_step(config: TrainConfig) -> int:
    """Target images whose activations one step keeps for its backward pass."""
    points = config.loss.percentile_samples or config.loss.n_percentiles
    return config.batch_size * (2 if config.targets == "both" else 1) * points * 2


def needs_checkpointing(mode: str, per_image: int, images: int, free: int | None, share: float = 0.5) -> bool:
    """``auto``: recompute activations only when keeping them all would take more than ``share``
    of the free memory (or the free memory is unknown on a GPU, where it is scarcest)."""
    if mode != "auto":
        return mode == "on"
    if free is None:
        return False
    return per_image * images > share * free


def make_explainer(config: TrainConfig, model: ModelAdapter) -> Explainer:
    """Fine-tune ``config.init`` when given, else a fresh decoder over the chosen backbone.

    A fine-tune keeps the init's architecture; only our extensions may be switched on (``explainer``
    ``class_source`` / ``class_evidence``), which adds their parts without touching the trained weights."""
    if config.init:
        loaded = load_explainer(config.init, model)
        if isinstance(loaded, Explainer):
            loaded = with_extensions(loaded, class_source=config.explainer.get("class_source"),
                                     class_evidence=config.explainer.get("class_evidence"))
        return loaded
    if config.backbone == "target" and not model.supports_features:
        raise ConfigError(f"{model.name}: this model type gives no intermediate features for the explainer. "
                          f"Give a separate backbone: --backbone timm:<arch> --backbone-weights FILE.")
    ecfg = ExplainerConfig.from_dict(dict(config.explainer, backbone=config.backbone,
                                          backbone_weights=config.backbone_weights))
    return build_explainer(model, ecfg)


def _optimizer_factory(config: TrainConfig) -> Callable[[Explainer], torch.optim.Optimizer]:
    def make(explainer: Explainer) -> torch.optim.Optimizer:
        return torch.optim.AdamW(explainer.trainable_parameters(), lr=config.lr, weight_decay=config.weight_decay)

    return make


def _check_out(out: Path, overwrite: bool) -> None:
    """A fresh run must not mix its checkpoints with an earlier run's."""
    ck = checkpoints_dir(out)
    if not (ck.is_dir() and any(ck.iterdir())):
        return
    if not overwrite:
        raise ConfigError(f"{out}: already holds a training run. Resume it with --resume {out}, "
                          f"choose another --out folder, or pass --overwrite to start afresh.")
    shutil.rmtree(ck)


def prepare(config: TrainConfig, model: ModelAdapter, explainer: Explainer | None,
            resume: str | Path | None, overwrite: bool = False,
            clock: Callable[[], float] = time.monotonic) -> Session:
    info = ddp.detect()
    device = ddp.pick_device(config.device, info)
    ddp.init(info, device)
    threads_before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(training_threads(config.threads, info.local_world))
    if not model.supports_grad:
        raise ConfigError(f"{model.name}: training needs gradients through the model, which {model.kind} models "
                          f"do not give. Use the timm weights or a TorchScript export instead.")
    native = model.preprocessing
    resize_preprocessing(model, config.image_size)
    model.to(device)
    images = scan_folder(config.data, model.class_names)
    if images.unmatched and info.is_main:
        warnings.warn(f"class folders not matching any of the model's class names (labels unknown): "
                      f"{', '.join(images.unmatched[:5])}", stacklevel=2)
    train_idx, val_idx = split_indices(images, config.val_fraction)
    if config.steps:
        total = config.steps
    elif config.max_time:  # the budget decides; a provisional count until the first steps are timed
        total = PROVISIONAL_STEPS
    else:
        total = steps_for_epochs(len(train_idx), config.epochs, config.batch_size, info.world)
    length = ScheduleLength(total)
    opt_factory = _optimizer_factory(config)

    def sched_factory(opt: torch.optim.Optimizer) -> Any:
        return make_scheduler(opt, length, config.warmup_frac, config.warmup_start_div, config.final_div)

    start = 0
    if info.is_main:
        remove_stale_temps(config.out)
        if resume is not None:
            remove_stale_temps(resume)
    if resume is not None:
        resumed = read_checkpoint(resume)
        explainer, optimizer, scheduler = restore(resumed, model, opt_factory, sched_factory)
        start = resumed.step
    else:
        torch.manual_seed(config.seed)  # the fresh decoder's initial weights follow the run's seed
        explainer = explainer or make_explainer(config, model)
        optimizer = None  # built after the move to the device
    explainer.to(device).train()
    if resume is None:
        optimizer = opt_factory(explainer)
        scheduler = sched_factory(optimizer)
    out = Path(config.out)
    if info.is_main:
        if resume is None:
            _check_out(out, overwrite)
        config.save(out / "config.json")
    pre = model.preprocessing
    loader = BatchLoader(images, train_idx, pre, config.augment, config.batch_size, config.seed,
                         info.rank, info.world, config.loader_threads)
    val_x = load_fixed(images, val_idx, pre, config.val_max_images)[0] if info.is_main else torch.empty(0)
    val_native_x = torch.empty(0)
    if info.is_main and config.val_native and tuple(native.input_size) != tuple(pre.input_size):
        val_native_x = load_fixed(images, val_idx, native, config.val_max_images)[0]
    bf16 = use_bf16(config.amp, device)
    ctx = autocast_context(device, bf16)
    checkpointing = config.grad_checkpointing == "on"
    if config.grad_checkpointing == "auto":
        per_image = activation_bytes(model, (1, pre.channels, *pre.input_size), ctx)
        checkpointing = needs_checkpointing("auto", per_image, images_with_grad_per_step(config),
                                            free_memory_bytes(device))
    log = MetricsLog(out / "metrics.jsonl", enabled=info.is_main, append=resume is not None)
    log.write("start", start, length.total, n_train=len(train_idx), n_val=int(val_x.shape[0]), world=info.world,
              device=str(device), resumed=resume is not None, labelled=images.has_labels,
              threads=torch.get_num_threads(), bf16=bf16, grad_checkpointing=checkpointing,
              max_time=config.max_time)
    return Session(config, model, explainer, ddp.wrap(explainer.decoder, info, device), optimizer, scheduler,
                   loader, val_x, val_native_x, log, info, device, out, start, length, EtaClock(start, clock), start,
                   explainer.trainable_parameters(), bf16, checkpointing, threads_before)


@torch.no_grad()
def validate(explainer: Explainer, model: ModelAdapter, x: torch.Tensor, config: TrainConfig) -> dict[str, Any]:
    """Mean HARD deletion/insertion AUC of the top-1 maps on the validation images (paper protocol)."""
    was_training = explainer.decoder.training
    explainer.eval()
    dels, inss = [], []
    try:
        for i in range(0, x.shape[0], config.batch_size):
            xb = x[i : i + config.batch_size].to(model.device)
            maps, logits = explainer.explain(xb)
            res = deletion_insertion(model, xb, maps.float(), logits.argmax(-1), protocol=VAL_PROTOCOL)
            dels.append(res.deletion_auc)
            inss.append(res.insertion_auc)
    finally:
        explainer.train(was_training)
    d, n = np.concatenate(dels), np.concatenate(inss)
    return {"del_auc": float(np.nanmean(d)), "ins_auc": float(np.nanmean(n)), "protocol": VAL_PROTOCOL,
            "n_images": int(d.shape[0])}
