#!/usr/bin/env bash
# Screenshot of the real application window (xcb platform under a virtual X server) on the
# offline demo, saved to docs/screenshot.png once the first explanation is on screen.
#
# Installs nothing. Needs, on Debian/Ubuntu:
#   apt-get install -y xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 \
#                      libxcb-render-util0 libxcb-image0 libxcb-shape0 libxcb-xkb1 libegl1 libfontconfig1 libdbus-1-3
# Usage: scripts/screenshot.sh [OUT.png] [extra l2r-desktop options]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${1:-$ROOT/docs/screenshot.png}"
shift || true
command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install -y xvfb xauth" >&2; exit 2; }
SETTINGS="$(mktemp -d)/settings.ini"  # a fresh settings file: the picture never depends on a user's
export QT_QPA_PLATFORM=xcb
# The main method next to one comparison, as a user auditing a model would: the learned explainer
# against Grad-CAM once the demo explainer is bundled, else Grad-CAM against Integrated Gradients.
if [ -d "$ROOT/resources/demo_cnn_explainer" ]; then DEFAULT_METHODS="l2r,gradcam"; else DEFAULT_METHODS="gradcam,ig"; fi
xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$PY" -m l2r_desktop --screenshot "$OUT" --size 1400x900 --settings "$SETTINGS" \
  --methods "${L2R_SCREENSHOT_METHODS:-$DEFAULT_METHODS}" --timeout 300 "$@"
