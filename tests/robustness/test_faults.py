"""Numerical faults and cancellation: NaN/inf from the model in the hard metrics, refinement, and
the CLI's evaluate/explain/export/train; cancellation at every refinement step.
Process faults (SIGKILL) are in test_process_faults.py.

Covered elsewhere (referenced, not duplicated): a NaN loss in the middle of training keeps the
last good checkpoint byte for byte and logs the error:
tests/training/test_loop.py::test_nan_loss_stops_and_keeps_the_last_checkpoint.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from l2r_core.errors import Cancelled, NonFiniteError
from l2r_core.explainer.refine import RefineSettings, refine
from l2r_core.metrics.hard import deletion_insertion
from l2r_core.metrics.soft import SoftLossConfig
from l2r_core.models.adapter import ModelAdapter
from l2r_core.models.preprocessing import Preprocessing
from l2r_core.progress import CancelToken

from .conftest import CliBatch
from .ledger import is_crash_output, record, scan_outputs

SIZE = 24
STEPS = 5
LOSS = SoftLossConfig(references=("mean",), n_percentiles=6, grid_min=6, grid_max=6, n_iters=10)
SETTINGS = RefineSettings(residual_grid=6, grid=6)


class Poisonable(ModelAdapter):
    """A small smooth CNN; ``poison`` makes every logit NaN, ``nan_above`` only those of the
    inputs whose largest value exceeds it (a marker only some images carry)."""

    kind = "module"
    supports_grad = True

    def __init__(self, nan_above: float | None = None) -> None:
        super().__init__("test:poisonable", Preprocessing(input_size=(SIZE, SIZE), resize="squash"),
                         ["a", "b", "c"], "poisonable")
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                 nn.Linear(24, 3)).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.poison, self.nan_above = False, nan_above

    @property
    def module(self) -> nn.Module:
        return self.net

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x) * 4.0
        if self.poison:
            return out * float("nan")
        if self.nan_above is not None:
            bad = x.flatten(1).amax(1) > self.nan_above
            out = torch.where(bad[:, None], torch.full_like(out, float("inf")), out)  # softmax: NaN
        return out


def _image() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, SIZE, SIZE, generator=g).clamp(-2, 2)


# -- hard metrics -----------------------------------------------------------------------------------
def test_hard_metrics_report_non_finite_scores_and_go_on() -> None:
    model = Poisonable(nan_above=2.5)
    x = torch.cat([_image(), _image()])
    x[1, :, :4, :4] = 3.0  # the marker: image 1's scores are inf while the marker is visible
    maps = torch.rand(2, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    res = deletion_insertion(model, x, maps, [0, 0], protocol="aha")
    record("core:deletion_insertion", "inf for one image of two", f"{len(res.warnings)} warning(s)")
    assert res.warnings == ["image 1: the model returned NaN or inf on perturbed inputs; AUC is NaN"]
    assert np.isfinite(res.deletion[0]).all() and np.isfinite(res.insertion[0]).all()
    assert 0 <= res.deletion_auc[0] <= 1 and 0 <= res.insertion_auc[0] <= 1
    assert math.isnan(res.deletion_auc[1]) and math.isnan(res.insertion_auc[1])
    assert not np.isfinite(res.deletion[1]).all()


# -- refinement -------------------------------------------------------------------------------------
class CancelBefore(CancelToken):
    """Cancels when asked to start step ``k + 1`` (progress.step(k, ...) runs before it)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def step(self, done: int, total: int, message: str = "") -> None:
        if done >= self.k and done < total:
            self.cancel()
        super().step(done, total, message)


def _run(model: ModelAdapter, progress: CancelToken, after: Any = None) -> tuple[list[Any], BaseException | None]:
    got: list[Any] = []
    x, initial = _image(), torch.randn(SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    try:
        for st in refine(model, x, 0, initial, steps=STEPS, config=LOSS, settings=SETTINGS, progress=progress):
            got.append(st)
            if after is not None:
                after(len(got))
    except (Cancelled, NonFiniteError) as exc:
        return got, exc
    return got, None


@pytest.mark.parametrize("k", range(STEPS))
def test_cancel_at_every_refinement_step_gives_exactly_k_finite_steps(k: int) -> None:
    model = Poisonable()
    # 1) the job's own progress object refuses step k + 1
    got, err = _run(model, CancelBefore(k))
    # 2) the consumer cancels right after receiving step k (what the GUI's Cancel does)
    token = CancelToken()
    got2, err2 = _run(model, token, after=lambda n: n == k and token.cancel())
    if k == 0:
        token.cancel()
        got2, err2 = _run(model, token)
    record("core:refine", f"cancel after {k} of {STEPS} steps", f"{len(got)} and {len(got2)} steps")
    assert isinstance(err, Cancelled) and isinstance(err2, Cancelled)
    assert [s.step for s in got] == [s.step for s in got2] == list(range(1, k + 1))
    assert all(torch.isfinite(s.map).all() and math.isfinite(s.loss) for s in got + got2)
    for a, b in zip(got, got2):
        assert torch.equal(a.map, b.map)  # the same steps, whichever way the cancel came


@pytest.mark.parametrize("j", range(1, STEPS + 1))
def test_nan_at_any_refinement_step_keeps_the_last_good_map(j: int) -> None:
    model = Poisonable()
    got, err = _run(model, CancelToken(), after=lambda n: n == j - 1 and setattr(model, "poison", True))
    if j == 1:
        model.poison = True
        got, err = _run(model, CancelToken())
    record("core:refine", f"NaN from step {j}", type(err).__name__ if err else "no error")
    assert isinstance(err, NonFiniteError) and f"stopped at step {j}" in str(err)
    assert len(got) == j - 1
    last = err.last_map  # type: ignore[attr-defined]
    assert torch.isfinite(last).all()
    if got:
        assert torch.equal(last, got[-1].map)
    else:
        initial = torch.randn(SIZE, SIZE, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(last, initial, atol=1e-5, rtol=1e-5)


# -- the CLI on a model whose logits are NaN (run in the CLI batch) -----------------------------------
def _res(cli_batch: CliBatch, call: str, what: str) -> dict[str, Any]:
    res = cli_batch.result(call)
    record("cli:" + call.split(":")[0], what, f"exit {res['returncode']}",
           is_crash_output(res["returncode"], res["stderr"]), res["stderr"].strip()[-200:])
    assert "Traceback" not in res["stderr"], res["stderr"][-2000:]
    return res


def test_cli_refine_reports_non_finite_in_one_line(cli_batch: CliBatch) -> None:
    res = _res(cli_batch, "explain:nan_refine", "NaN model, l2r-refine")
    lines = res["stderr"].strip().splitlines()
    assert res["returncode"] == 2 and len(lines) == 1, res["stderr"]
    assert lines[0].startswith("l2r: error: refinement stopped at step 1: the loss became NaN or inf")
    assert not any((cli_batch.out / "nan_refine").glob("*.npy"))


def test_cli_evaluate_goes_on_past_nan_scores(cli_batch: CliBatch) -> None:
    res = _res(cli_batch, "evaluate:nan_model", "NaN model, evaluate")
    assert res["returncode"] == 0
    rows = json.loads((cli_batch.out / "evaluate_nan.json").read_text())["results"]
    assert len(rows) == 2 and all(r["deletion_auc"] is None for r in rows)  # strict JSON: null, not NaN


def test_cli_evaluate_says_which_rows_are_nan(cli_batch: CliBatch) -> None:
    res = cli_batch.result("evaluate:nan_model")
    rows = json.loads((cli_batch.out / "evaluate_nan.json").read_text())["results"]
    assert all(r.get("warnings") or r["status"] != "ok" for r in rows), rows
    assert "NaN" in res["stderr"] + res["stdout"]


def test_cli_export_keeps_the_nan_warning_in_each_item(cli_batch: CliBatch) -> None:
    from l2r_core.batch.state import read_all_items

    res = _res(cli_batch, "export:nan_model", "NaN model, export")
    assert res["returncode"] == 0
    items = read_all_items(cli_batch.out / "export_nan")
    assert len(items) == 2 and all("NaN" in " ".join(d["warnings"]) for d in items)
    assert scan_outputs(cli_batch.out / "export_nan", "cli:export NaN model") == []


def test_cli_export_of_nan_scores_prints_no_numpy_warning(cli_batch: CliBatch) -> None:
    lines = cli_batch.result("export:nan_model")["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exported 2 images"), lines


def test_cli_train_stops_on_nan_with_one_line_and_writes_no_checkpoint(cli_batch: CliBatch) -> None:
    """In-process, mid-run: tests/training/test_loop.py::test_nan_loss_stops_and_keeps_the_last_checkpoint."""
    res = _res(cli_batch, "train:nan_model", "NaN model, train")
    lines = res["stderr"].strip().splitlines()
    assert res["returncode"] == 2 and len(lines) == 1 and "NaN or inf" in lines[0], res["stderr"]
    assert "last good checkpoint is kept" in lines[0]
    out = cli_batch.out / "train_nan"
    assert not list((out / "checkpoints").glob("step_*")) and not (out / "explainer").exists()
    log = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["event"] == "error" and log[-1]["step"] == 0
    assert scan_outputs(out, "cli:train NaN model") == []
