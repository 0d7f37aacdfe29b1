#!/usr/bin/env bash
# Installs L2R Inspector and starts the desktop app on the bundled offline demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/l2r-desktop "$@"
