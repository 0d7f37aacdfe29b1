#!/usr/bin/env bash
# Short GPU checks (about 2 minutes on one H100): the CUDA tests, `l2r train` with bf16 +
# gradient checkpointing, torchrun with one GPU (NCCL), the explainer's cost on the GPU, and the
# training speed of both demo explainers. Each stage reports PASS/FAIL and the next one runs anyway.
# Usage (repo root, on a CUDA machine): bash scripts/gpu_check.sh [OUT_DIR]
set -u
out=${1:-${OUT:-/tmp/l2r-gpu}}
mkdir -p "$out"
source scripts/gpu_env.sh
work=$(mktemp -d /tmp/l2r-gpu-XXXX)

stage() {  # stage NAME SECONDS CMD...
    local name=$1 limit=$2; shift 2
    local t0=$(date +%s)
    echo "=== $name"
    if timeout "$limit" "$@" >"$out/$name.log" 2>&1; then r=PASS; else r="FAIL($?)"; fi
    echo "=== $name: $r in $(( $(date +%s) - t0 )) s"
    tail -n 8 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, timm; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'timm', timm.__version__, torch.cuda.get_device_name(0))"

stage cuda_tests 150 "$PY" -m pytest -q -p no:cacheprovider tests/gpu tests/training/test_cli_train.py::test_cli_errors_are_one_line

"$PY" -c "from l2r_training.recipes.demo_vit_explainer import write_images; from pathlib import Path; write_images(Path('$work/fm'), count=4000)"
stage torchrun_1gpu 90 "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m l2r_training.cli.train train \
    "$work/fm" --model demo-vit --out "$work/ddp" --steps 5 --batch-size 32 --device cuda --val-images 8 --quiet
grep -h '"start"' "$work/ddp/metrics.jsonl" | head -1

stage cost_demo_cnn 60 "$PY" benchmarks/explainer_cost.py --model demo-cnn --device cuda --repeats 30 --batch 1
stage cost_demo_cnn_b32 60 "$PY" benchmarks/explainer_cost.py --model demo-cnn --device cuda --repeats 10 --batch 32
stage cost_demo_vit 60 "$PY" benchmarks/explainer_cost.py --model demo-vit --device cuda --repeats 30 --batch 1

# Training speed with the settings of the bundled explainers (steps/s decides their GPU budget).
stage speed_demo_vit 100 "$PY" -m l2r_training.recipes.demo_vit_explainer --work "$work/dv" --gpu --images 4000 --steps 60 \
    --val-every 0 --checkpoint-every 0 --quiet
stage speed_demo_cnn 120 "$PY" -m l2r_training.recipes.demo_cnn_explainer --work "$work/dc" --gpu --steps 20 \
    --val-every 0 --checkpoint-every 0 --quiet
"$PY" - "$work" <<'EOF'
import json, sys
from pathlib import Path
for name in ("dv", "dc"):
    log = Path(sys.argv[1]) / name / "run" / "metrics.jsonl"
    if not log.is_file():
        print(name, "no log"); continue
    steps = [json.loads(l) for l in log.read_text().splitlines() if '"step"' in l]
    steps = [r for r in steps if r["event"] == "step"]
    if len(steps) > 6:
        dt = (steps[-1]["time"] - steps[5]["time"]) / (len(steps) - 6)
        print(f"{name}: {dt:.3f} s/step after warm-up; loss {steps[0]['loss']:.3f} -> {steps[-1]['loss']:.3f}; "
              f"max grad norm {max(r['grad_norm'] for r in steps):.3g}")
EOF
nvidia-smi --query-gpu=memory.used --format=csv,noheader
