"""Run under torchrun by test_ddp: trains like `l2r train`, then each rank writes the fingerprint
of its own decoder weights to HASH_PREFIX.rankN (so the test can compare the ranks)."""
from __future__ import annotations

import sys
from pathlib import Path

from l2r_core.explainer import explainer_fingerprint
from l2r_core.models.loading import load_model
from l2r_training.config import resolve_config
from l2r_training.ddp import detect
from l2r_training.loop import train
from l2r_training.session import make_explainer


def main(config_file: str, weights: str, hash_prefix: str) -> int:
    cfg = resolve_config(config_file, {"weights": weights})
    model = load_model(cfg.model, weights=cfg.weights)
    explainer = make_explainer(cfg, model)
    result = train(cfg, model, explainer)
    rank = detect().rank
    Path(f"{hash_prefix}.rank{rank}").write_text(explainer_fingerprint(explainer) + "\n", encoding="utf-8")
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
