"""Fixtures for the robustness suite: the two corpora (written once per session), the tiny models,
and ONE background process that runs every ``l2r`` command line of the suite (see cli_batch.py).

The CLI batch starts as soon as the session begins (it runs on the other core while the in-process
tests run); the tests that read its results are moved to the end of the run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from PIL import Image

from tests.corpus.images import CorpusItem, make_image_corpus
from tests.corpus.models import (NUM_CLASSES, SMALL_EXPLAINER, ModelCorpusItem, make_model_corpus,
                                 save_explainer_for, save_nan_head_weights)

REPO = Path(__file__).resolve().parents[2]
BATCH_TIMEOUT_S = 420


@dataclass
class Corpora:
    root: Path
    images_dir: Path
    images: list[CorpusItem]
    models_dir: Path
    models: list[ModelCorpusItem]
    nan_weights: Path  # loads fine, every logit NaN
    nan_explainer: Path  # an explainer made for the NaN model (its map is finite)
    clean_images: Path  # two plain readable images

    @property
    def good(self) -> ModelCorpusItem:
        return self.models[0]

    def model(self, name: str) -> ModelCorpusItem:
        return next(m for m in self.models if m.name == name)

    def image(self, name: str) -> CorpusItem:
        return next(i for i in self.images if i.name == name)


@pytest.fixture(scope="session")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Corpora:
    root = tmp_path_factory.mktemp("robustness")
    images = make_image_corpus(root / "images")
    models = make_model_corpus(root / "models")
    faults = root / "faults"
    faults.mkdir()
    nan = save_nan_head_weights(faults / "nan_head.safetensors")
    nan_explainer = save_explainer_for(faults / "nan_explainer", nan)
    clean = root / "clean_images"
    clean.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 44, 3), dtype=np.uint8)).save(clean / f"clean{i}.png")
    return Corpora(root, root / "images", images, root / "models", models, nan, nan_explainer, clean)


# -- the CLI batch ---------------------------------------------------------------------------------
def _model_args(weights: Path) -> list[str]:
    return ["--model", "timm:resnet10t", "--weights", str(weights), "--device", "cpu"]


def _train_config(path: Path) -> Path:
    """Settings that make one training step cost well under a second at 32 px."""
    path.write_text(json.dumps({
        "image_size": 32, "batch_size": 2, "steps": 2, "val_fraction": 0.25, "val_every": 0, "val_max_images": 2,
        "checkpoint_every": 1, "loader_threads": 1, "device": "cpu", "explainer": SMALL_EXPLAINER,
        "loss": {"grid_min": 3, "grid_max": 6, "n_iters": 5, "n_percentiles": 4, "blur_size": 5,
                 "blur_sigma": 2.0, "peak_window": 3}}), encoding="utf-8")
    return path


def cli_calls(c: Corpora, out: Path) -> list[dict[str, Any]]:
    """Every ``l2r`` command line of the suite: (id, argv). Outputs go under ``out``."""
    plain = c.image("plain.jpg").path
    good = c.good.path
    calls: list[dict[str, Any]] = []
    for m in c.models:  # one `l2r explain` per model-corpus item
        method = "l2r" if m.kind == "explainer" else "gradcam"
        calls.append({"id": f"explain:{m.name}",
                      "argv": ["explain", plain, *m.cli_args(), "--device", "cpu", "--method", method,
                               "--out", out / "explain" / m.name]})
    readable = [i.path for i in c.images if i.ok]
    calls.append({"id": "explain:readable_images",
                  "argv": ["explain", *readable, *_model_args(good), "--method", "gradcam", "--out", out / "readable"]})
    mixed = [plain, c.image("truncated.jpg").path, c.image("gray.png").path]
    calls.append({"id": "explain:mixed_images",
                  "argv": ["explain", *mixed, *_model_args(good), "--method", "gradcam", "--out", out / "mixed"]})
    calls.append({"id": "evaluate:image_corpus",
                  "argv": ["evaluate", c.images_dir, *_model_args(good), "--methods", "gradcam",
                           "--json", out / "evaluate.json"]})
    calls.append({"id": "evaluate:json_in_missing_folder",  # known bug evaluate-json-folder
                  "argv": ["evaluate", c.clean_images, *_model_args(good), "--methods", "gradcam",
                           "--json", out / "new_folder" / "evaluate.json"]})
    calls.append({"id": "export:image_corpus",
                  "argv": ["export", c.images_dir, "--out", out / "export", *_model_args(good), "--methods", "gradcam",
                           "--quiet"]})
    config = _train_config(out / "train_config.json")
    calls.append({"id": "train:image_corpus",
                  "argv": ["train", c.images_dir, "--config", config, "--weights", good, "--model", "timm:resnet10t",
                           "--out", out / "train", "--quiet"]})
    nan = _model_args(c.nan_weights)
    calls.append({"id": "evaluate:nan_model",
                  "argv": ["evaluate", c.clean_images, *nan, "--methods", "gradcam",
                           "--json", out / "evaluate_nan.json"]})
    calls.append({"id": "explain:nan_refine",
                  "argv": ["explain", plain, *nan, "--explainer", c.nan_explainer, "--method", "l2r-refine",
                           "--refine-steps", "2", "--out", out / "nan_refine"]})
    calls.append({"id": "train:nan_model",
                  "argv": ["train", c.clean_images, "--config", config, "--weights", c.nan_weights,
                           "--model", "timm:resnet10t", "--out", out / "train_nan", "--quiet"]})
    calls.append({"id": "export:nan_model",
                  "argv": ["export", c.clean_images, "--out", out / "export_nan", *nan, "--methods", "gradcam",
                           "--quiet"]})
    return [{"id": call["id"], "argv": [str(a) for a in call["argv"]]} for call in calls]


@dataclass
class CliBatch:
    """The background run of every CLI call; ``result(id)`` waits for it the first time."""

    proc: subprocess.Popen[bytes]
    results_path: Path
    out: Path
    log: Path
    ids: list[str]
    _results: dict[str, Any] = field(default_factory=dict)

    def wait(self) -> dict[str, Any]:
        if not self._results:
            try:
                self.proc.wait(BATCH_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            done = json.loads(self.results_path.read_text()) if self.results_path.is_file() else {}
            missing = [i for i in self.ids if i not in done]
            assert not missing, (f"the CLI batch died (status {self.proc.returncode}) before {missing[:3]}: "
                                 f"{self.log.read_text()[-3000:]}")
            self._results = done
        return self._results

    def result(self, call_id: str) -> dict[str, Any]:
        return self.wait()[call_id]


def _uses_batch(item: pytest.Item) -> bool:
    return "cli_batch" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests reading the CLI batch go last, so the batch runs while the others do."""
    items.sort(key=_uses_batch)  # stable: keeps the order within each group


@pytest.fixture(scope="session")
def _batch_handle(corpora: Corpora, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliBatch]:
    out = tmp_path_factory.mktemp("cli_out")
    work = tmp_path_factory.mktemp("cli_batch")
    calls = cli_calls(corpora, out)
    (work / "calls.json").write_text(json.dumps(calls), encoding="utf-8")
    log = work / "log.txt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "tests.robustness.cli_batch", str(work / "calls.json"),
                                 str(work / "results.json")], cwd=str(REPO), env=env, stdout=f,
                                stderr=subprocess.STDOUT)
    batch = CliBatch(proc, work / "results.json", out, log, [c["id"] for c in calls])
    yield batch
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session", autouse=True)
def _start_batch_early(request: pytest.FixtureRequest) -> None:
    """Start the CLI batch at the beginning of the session when any collected test needs it."""
    if any(_uses_batch(i) for i in request.session.items):
        request.getfixturevalue("_batch_handle")


@pytest.fixture
def cli_batch(_batch_handle: CliBatch) -> CliBatch:
    return _batch_handle


@pytest.fixture(scope="session")
def good_model(corpora: Corpora) -> Any:
    """The control model (resnet10t, 3 classes, 32 px) loaded once; tests must not change it."""
    from l2r_core.models.loading import load_model

    model = load_model("timm:resnet10t", weights=corpora.good.path)
    assert model.num_classes == NUM_CLASSES and tuple(model.preprocessing.input_size) == (32, 32)
    return model
