"""Quality at equal wall-clock: training recipes given the same CPU time on demo-vit, scored alike.

Each variant trains the demo-vit explainer with ``l2r train --max-time`` on the same 3,000
Fashion-MNIST training-split images (the CPU recipe of ``l2r_training.recipes.demo_vit_explainer``: batch 8,
grid 7-20), one thread each, then ``l2r evaluate`` scores its explainer on the same 500 held-out
test images under ``aha``. Two variants run side by side (2 cores), so both see the same machine.

    python benchmarks/quality_at_equal_time.py --minutes 20 --work /tmp/qet --variants old,default

Variants: ``old`` is the engine before the speed work (every percentile, both targets, gradient
checkpointing, float32); ``default`` is today's default; the others add one lever to it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RECIPE = ["--batch-size", "8", "--grid-max", "20", "--lr", "3e-4", "--val-every", "0", "--checkpoint-every", "100",
          "--augment", "light", "--threads", "1", "--loader-threads", "1", "--device", "cpu", "--quiet"]
VARIANTS = {
    "old": ["--percentile-samples", "0", "--targets", "both", "--grad-checkpointing", "on", "--amp", "off"],
    "default": [],
    "both-targets": ["--targets", "both"],
    "bf16": ["--amp", "bf16"],
    "samples2": ["--percentile-samples", "2"],
    "samples8": ["--percentile-samples", "8"],
}


def prepare_data(work: Path, n_train: int, n_test: int) -> tuple[Path, Path]:
    from l2r_training.recipes.demo_vit_explainer import write_images
    from l2r_training.fashion_mnist import write_pngs

    train, test = work / "train", work / f"test{n_test}"
    if not train.is_dir():
        write_images(train, count=n_train)
    if not test.is_dir():
        write_pngs("test", n_test, test)
    return train, test


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--variants", default="old,default")
    ap.add_argument("--parallel", type=int, default=2, help="variants trained at once (one thread each)")
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--test-images", type=int, default=500)
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    train, test = prepare_data(a.work, a.images, a.test_images)
    names = a.variants.split(",")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for i in range(0, len(names), a.parallel):
        procs = []
        for name in names[i:i + a.parallel]:
            cmd = [sys.executable, "-m", "l2r_training.cli", "train", str(train), "--model", "demo-vit",
                   "--out", str(a.work / name), "--overwrite", "--max-time", f"{a.minutes}m", *RECIPE, *VARIANTS[name]]
            print(" ".join(cmd[1:]), flush=True)
            procs.append(subprocess.Popen(cmd, env=env))
        for p in procs:
            p.wait()
    rows = []
    for name in names:
        out = a.work / name / "eval.json"
        subprocess.run([sys.executable, "-m", "l2r_training.cli", "evaluate", str(test), "--model", "demo-vit",
                        "--explainer", str(a.work / name / "explainer"), "--methods", "l2r", "--protocol", "aha",
                        "--json", str(out)], env=env, check=True)
        log = [json.loads(line) for line in (a.work / name / "metrics.jsonl").read_text().splitlines()]
        steps = [r for r in log if r["event"] == "step"]
        secs = steps[-1]["time"] - log[0]["time"] if steps else 0.0
        rows.append((name, len(steps), secs, json.loads(out.read_text())))
    print(f"\n{'variant':12s} {'steps':>6s} {'train s':>8s} {'deletion':>9s} {'insertion':>9s}")
    for name, n, secs, res in rows:
        m = summary(res)
        print(f"{name:12s} {n:6d} {secs:8.0f} {m[0]:9.3f} {m[1]:9.3f}")
    (a.work / "summary.json").write_text(json.dumps(
        [{"variant": n, "steps": s, "train_s": t, "deletion": summary(r)[0], "insertion": summary(r)[1]}
         for n, s, t, r in rows], indent=2) + "\n")
    return 0


def summary(result: dict) -> tuple[float, float]:
    """Mean deletion and insertion AUC of the l2r method in an ``l2r evaluate --json`` file."""
    m = next(row for row in result["summary"] if row["method"] == "l2r")
    return float(m["deletion_auc"]), float(m["insertion_auc"])


if __name__ == "__main__":
    sys.exit(main())
