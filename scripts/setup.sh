#!/usr/bin/env bash
# Creates .venv with pinned versions (constraints.txt) and installs L2R Inspector editable.
# Usage: scripts/setup.sh [dev]    ("dev" adds pytest, pytest-qt, scikit-image)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q "pip==26.3"
.venv/bin/python -m pip install -q -c constraints.txt -e ".${extra}"
