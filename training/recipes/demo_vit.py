"""Train the bundled ``demo-vit``: a small timm ViT on Fashion-MNIST, CPU-only, seeded.

Run: ``python -m l2r_training.recipes.demo_vit`` (needs ``apt-get install -y dataset-fashion-mnist``).
Writes resources/demo_vit/model.safetensors and config.json; ``l2r_core.models.load_model('demo-vit')``
rebuilds the model from them (load_timm infers classes/channels/size from the weights and applies
``model_args`` from config.json). ``--samples`` also writes a few test-split PNGs for the GUI.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from l2r_core.progress import Progress, ensure_progress

from ..fashion_mnist import CLASS_NAMES, class_slug, load_split

ARCH = "vit_tiny_patch16_224"
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST train-split pixel mean/std in [0, 1]
SAMPLE_CLASSES = (9, 1, 2, 3, 4, 6, 7, 8, 0)  # class ids that get one sample PNG each


@dataclass(frozen=True)
class TrainConfig:
    # Model (every kwarg load_timm cannot read off the weights goes to config.json model_args).
    # Wide-and-shallow with a narrow MLP learned fastest per CPU-second in short trials.
    embed_dim: int = 96
    depth: int = 4
    num_heads: int = 3
    mlp_ratio: float = 2.0
    global_pool: str = "avg"  # mean of patch tokens: trains faster than the class token at this size
    # Optimisation.
    epochs: int = 10
    batch_size: int = 64  # more updates per epoch: clearly better than 128 in a short schedule
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 300
    label_smoothing: float = 0.1
    pad: int = 1  # random-crop padding (pixels); light, as short runs underfit rather than overfit
    seed: int = 0

    def model_args(self) -> dict[str, Any]:
        return {"img_size": 28, "patch_size": 4, "in_chans": 1, "num_classes": len(CLASS_NAMES),
                "embed_dim": self.embed_dim, "depth": self.depth, "num_heads": self.num_heads,
                "mlp_ratio": self.mlp_ratio, "global_pool": self.global_pool}


def build_model(cfg: TrainConfig) -> nn.Module:
    import timm

    return timm.create_model(ARCH, pretrained=False, **cfg.model_args())


def normalize(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> normalised float (N, 1, 28, 28), the same maths as Preprocessing."""
    return (images_u8.float().div(255.0).unsqueeze(1) - MEAN) / STD


def augment(batch_u8: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding plus horizontal flip, per sample, on uint8 (N, 28, 28)."""
    n, h, w = batch_u8.shape
    padded = F.pad(batch_u8, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :].expand(n, h, w)
    out = padded[torch.arange(n)[:, None, None], rows, cols]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t)))


@torch.no_grad()
def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> float:
    """Top-1 accuracy on uint8 images."""
    model.eval()
    x, y = torch.tensor(images), torch.tensor(labels)
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(normalize(x[i:i + batch])).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def train(cfg: TrainConfig, images: np.ndarray, labels: np.ndarray,
          progress: Progress | None = None) -> nn.Module:
    """Train from scratch; ``progress.step`` after every batch (raises Cancelled to stop)."""
    prog = ensure_progress(progress)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build_model(cfg)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos_embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1 or "pos_embed" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    x_all, y_all = torch.tensor(images), torch.tensor(labels)  # copies: the idx arrays are read-only
    steps_per_epoch = len(x_all) // cfg.batch_size  # drop the ragged last batch
    total = cfg.epochs * steps_per_epoch
    step = 0
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(x_all), generator=gen)
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x = normalize(augment(x_all[idx], cfg.pad, gen))
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, cfg)
            loss = F.cross_entropy(model(x), y_all[idx], label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            prog.step(step, total, f"epoch {epoch + 1}/{cfg.epochs} loss {loss.item():.3f}")
    return model.eval()


def write_model(model: nn.Module, cfg: TrainConfig, out_dir: Path, record: dict[str, Any]) -> None:
    """model.safetensors + config.json (architecture, model_args and the model card's keys, record)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architecture": ARCH,
        "model_args": cfg.model_args(),
        "input_size": [28, 28], "resize": "squash", "mean": [MEAN], "std": [STD], "interpolation": "bilinear",
        "class_names": list(CLASS_NAMES),
        "dataset": "Fashion-MNIST (Zalando SE, MIT licence), Debian package dataset-fashion-mnist",
        "training": {"config": asdict(cfg), **record},
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def write_samples(images: np.ndarray, labels: np.ndarray, out_dir: Path,
                  classes: Sequence[int] = SAMPLE_CLASSES) -> list[Path]:
    """The first test image of each class in ``classes`` as <class_slug>_<test index>.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for c in classes:
        i = int(np.flatnonzero(labels == c)[0])
        path = out_dir / f"{class_slug(c)}_{i}.png"
        Image.fromarray(images[i], mode="L").save(path, optimize=True)
        written.append(path)
    return written


class _PrintProgress:
    """Console progress: one line per ~5% of the run."""

    cancelled = False

    def __init__(self) -> None:
        self.start = time.time()

    def step(self, done: int, total: int, message: str = "") -> None:
        if done == total or done % max(1, total // 20) == 0:
            print(f"[{time.time() - self.start:6.0f}s] {done}/{total} {message}", flush=True)


def _timm_version() -> str:
    import timm

    return str(timm.__version__)


def main(argv: Sequence[str] | None = None) -> int:
    from l2r_resources import resource_path

    ap = argparse.ArgumentParser(prog="python -m l2r_training.recipes.demo_vit", description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--out", type=Path, default=resource_path("demo_vit"))
    ap.add_argument("--data-dir", type=Path, default=None, help="folder with the idx .gz files")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=Path, nargs="?", const=resource_path("samples_fashion"), default=None,
                    help="also write sample test PNGs (default folder: resources/samples_fashion)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)  # this box has 2 cores; more threads only thrash
    cfg = TrainConfig(epochs=args.epochs)
    train_x, train_y = load_split("train", args.data_dir)
    test_x, test_y = load_split("test", args.data_dir)
    start = time.time()
    model = train(cfg, train_x, train_y, _PrintProgress())
    seconds = time.time() - start
    acc = evaluate(model, test_x, test_y)
    print(f"test accuracy {acc:.4f} on {len(test_y)} images; training took {seconds:.0f}s")
    command = f"python -m l2r_training.recipes.demo_vit --epochs {args.epochs} --threads {args.threads}"
    record = {"command": command, "test_accuracy": round(acc, 4), "train_seconds": round(seconds),
              "threads": args.threads, "torch": torch.__version__, "timm": _timm_version()}
    write_model(model, cfg, args.out, record)
    if args.samples is not None:
        for p in write_samples(test_x, test_y, args.samples):
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
