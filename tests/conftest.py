"""Shared test set-up: one torch thread (2 threads on a busy 2-core box can be 65x slower),
offscreen Qt, deterministic seeds."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

# The fixtures users get from l2r_core.testing (l2r_tiny_cnn, l2r_tiny_weights, ...).
pytest_plugins = ["l2r_core.testing.plugin"]
