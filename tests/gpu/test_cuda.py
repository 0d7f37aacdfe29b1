"""The CUDA paths: same numbers as the CPU, bf16 autocast, gradient checkpointing, every method.

Skipped without a GPU (CI has none); `scripts/gpu_check.sh` runs them on a lent GPU.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from l2r_core.attribution import attribute, available_methods
from l2r_core.explainer import load_explainer
from l2r_core.explainer.refine import refine_map
from l2r_core.metrics.soft import SoftLossConfig, soft_rank_loss
from l2r_core.models.demo import demo_explainer_dir
from l2r_core.models.loading import load_model
from l2r_core.ranking import gumbel_sinkhorn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _fashion_batch(n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 28, 28, generator=g)
    x[:, :, :6] = 0.0  # a blank band, like the garments' background
    return (x - 0.286) / 0.353


def test_sinkhorn_on_cuda_matches_cpu_forward_and_backward() -> None:
    s_cpu = (torch.randn(3, 400, generator=torch.Generator().manual_seed(1)) * 3).requires_grad_()
    s_gpu = s_cpu.detach().cuda().requires_grad_()
    w = torch.randn(3, 400, 400, generator=torch.Generator().manual_seed(2))
    outs = []
    for s, wt in ((s_cpu, w), (s_gpu, w.cuda())):
        p = gumbel_sinkhorn(s, tau=0.3, generator=torch.Generator().manual_seed(3))  # CPU noise, moved
        (p * wt).sum().backward()
        outs.append(p.detach().cpu())
    assert torch.allclose(outs[0], outs[1], atol=1e-4)
    # float32 sums over 400 x 400 terms in another order: elementwise ~1e-4 apart on an H100
    rel = (s_cpu.grad - s_gpu.grad.cpu()).norm() / s_cpu.grad.norm()
    assert float(rel) < 5e-3


def test_soft_loss_under_bf16_autocast_is_close_to_float32() -> None:
    model = load_model("demo-vit", device="cuda")
    x = _fashion_batch().cuda()
    raw = torch.randn(4, 28, 28, device="cuda", requires_grad=True)
    targets = model.logits(x).argmax(-1)
    losses, grads = [], []
    for amp in (False, True):
        raw.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss, _ = soft_rank_loss(model, x, raw, targets, SoftLossConfig(), grid=14, reference="mean",
                                     generator=torch.Generator().manual_seed(0))
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append(raw.grad.detach().clone())
    assert abs(losses[0] - losses[1]) < 0.02
    cos = torch.nn.functional.cosine_similarity(grads[0].flatten(), grads[1].flatten(), dim=0)
    assert float(cos) > 0.9


def test_every_method_runs_on_cuda_and_gradcam_matches_cpu() -> None:
    model = load_model("demo-vit", device="cuda")
    explainer = load_explainer(demo_explainer_dir("demo-vit"), model)
    x = _fashion_batch(2).cuda()
    for info in available_methods(model):
        opts = {"explainer": explainer} if info.name.startswith("l2r") else {}
        if info.name == "l2r-refine":
            opts["steps"] = 2
        if info.name == "rise":
            opts["n_masks"] = 64
        maps = attribute(info.name, model, x, [0, 1], **opts)
        assert maps.shape == (2, 28, 28) and maps.device.type == "cuda", info.name
        assert torch.isfinite(maps).all(), info.name
    cpu_model = load_model("demo-vit")
    on_cpu = attribute("gradcam", cpu_model, x.cpu(), [0, 1])
    on_gpu = attribute("gradcam", model, x, [0, 1]).cpu()
    assert torch.allclose(on_cpu, on_gpu, rtol=1e-3, atol=1e-4)


def test_refinement_on_cuda_lowers_its_own_loss() -> None:
    model = load_model("demo-vit", device="cuda")
    x = _fashion_batch(1).cuda()
    target = int(model.logits(x).argmax(-1))
    start = torch.randn(28, 28, device="cuda")
    refined = refine_map(model, x, target, start, steps=5)
    assert refined.shape == (28, 28) and torch.isfinite(refined).all()
    assert not torch.allclose(refined, start)


def test_training_on_cuda_with_bf16_and_checkpointing(tmp_path: Path) -> None:
    from l2r_training.cli.train import main

    images = tmp_path / "images"
    for i in range(12):
        sub = images / ("Trouser" if i % 2 else "Bag")
        sub.mkdir(parents=True, exist_ok=True)
        arr = (torch.rand(28, 28, generator=torch.Generator().manual_seed(i)) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(sub / f"{i}.png")
    out = tmp_path / "run"
    code = main(["train", str(images), "--model", "demo-vit", "--out", str(out), "--steps", "4",
                 "--batch-size", "4", "--device", "cuda", "--amp", "--grad-checkpointing",
                 "--val-images", "2", "--val-fraction", "0.2", "--quiet"])
    assert code == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    start = next(r for r in records if r["event"] == "start")
    assert start["device"].startswith("cuda")
    steps = [r for r in records if r["event"] == "step"]
    assert len(steps) == 4 and all(0 < r["grad_norm"] < 1e3 for r in steps)
    # the CUDA-trained explainer loads and explains on the CPU
    cpu_model = load_model("demo-vit")
    maps, _ = load_explainer(out / "explainer", cpu_model).explain(_fashion_batch(2))
    assert maps.shape == (2, 28, 28) and torch.isfinite(maps).all()
