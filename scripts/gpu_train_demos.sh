#!/usr/bin/env bash
# Train both bundled demo explainers on one GPU and pack them (with their logs) into
# OUT/demo_explainers.tar.gz. To bundle them, unpack the tarball and copy vit/run/explainer and
# cnn/run/explainer (plus run/config.json as training_config.json) into resources/demo_*_explainer;
# on a machine where the whole project is installed, `--install` does that directly.
# Usage (repo root, on a CUDA machine): bash scripts/gpu_train_demos.sh VIT_STEPS CNN_STEPS [OUT_DIR]
set -u
vit_steps=${1:?VIT_STEPS}
cnn_steps=${2:?CNN_STEPS}
out=${3:-${OUT:-/tmp/l2r-gpu}}
mkdir -p "$out"
source scripts/gpu_env.sh
work=$(mktemp -d /tmp/l2r-train-XXXX)
pack() {
    cp "$out"/*.log "$work/" 2>/dev/null
    tar -C "$work" -czf "$out/demo_explainers.tar.gz" \
        --exclude='images' --exclude='photos' --exclude='checkpoints' .
    ls -la "$out"
}
trap pack EXIT

t0=$(date +%s)
"$PY" -m l2r_training.recipes.demo_vit_explainer --work "$work/vit" --gpu --steps "$vit_steps" --quiet \
    >"$out/train_vit.log" 2>&1
echo "demo-vit: exit $? after $(( $(date +%s) - t0 )) s"; tail -n 4 "$out/train_vit.log"
t0=$(date +%s)
"$PY" -m l2r_training.recipes.demo_cnn_explainer --work "$work/cnn" --gpu --steps "$cnn_steps" --quiet \
    >"$out/train_cnn.log" 2>&1
echo "demo-cnn: exit $? after $(( $(date +%s) - t0 )) s"; tail -n 4 "$out/train_cnn.log"
