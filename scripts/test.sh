#!/usr/bin/env bash
# Installs everything the test suite needs and runs it (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
# Fashion-MNIST (demo-vit accuracy test) comes from Debian; best effort where apt is not ours.
if [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) || \
   echo "note: could not install dataset-fashion-mnist; the demo-vit accuracy test will be skipped"
fi
bash scripts/setup.sh dev
export QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1
exec .venv/bin/python -m pytest -q "$@"
