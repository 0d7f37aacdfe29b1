#!/usr/bin/env bash
# GPU training speed in under 5 minutes of device time: steps/s of the demo-vit and demo-cnn
# explainers at batch 32/64/128, with a larger --target-batch, and with torch.compile on and off,
# each against a plain forward+backward of the target (benchmarks/bench_train_step.py).
# Usage (repo root, on a CUDA machine): bash scripts/gpu_profile.sh [OUT_DIR]
set -u
out=${1:-${OUT:-/tmp/l2r-gpu-profile}}
mkdir -p "$out"
source scripts/gpu_env.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"
t_start=$(date +%s)

bench() {  # bench NAME SECONDS ARGS...: one line per variant, the JSON in $out
    local name=$1 limit=$2; shift 2
    echo "=== $name ($(( $(date +%s) - t_start )) s in)"
    timeout "$limit" "$PY" benchmarks/bench_train_step.py --device cuda --threads 8 --steps 5 --no-sections \
        --json "$out/$name.json" "$@" 2>&1 | grep -v "USDT\|profiler" | tee "$out/$name.log" | grep -E "steps/s|Error|error" \
        || echo "=== $name: FAILED or timed out (see $out/$name.log)"
}

# Worst case 300 s of stages (each stops at its limit); typically much less.
for b in 32 64 128; do
    bench "vit_b${b}" 35 --models demo-vit --variants default,default+tb1024 --batch "$b"
done
bench vit_b128_compile 45 --models demo-vit --variants default+compile --batch 128 --target-batch 1024
for b in 32 64 128; do
    bench "cnn_b${b}" 40 --models demo-cnn --variants default,default+tb1024 --batch "$b"
done
bench cnn_b64_compile 30 --models demo-cnn --variants default+compile --batch 64 --target-batch 1024
echo "=== total $(( $(date +%s) - t_start )) s"
