#!/usr/bin/env bash
# Screenshots of the real application window (xcb platform under a virtual X server) on the
# offline demo, once the explanations are on screen: 1, 3 and 5 methods side by side, saved to
# docs/screenshots/methods_{1,3,5}.png (the README shows them).
#
# Installs nothing. Needs, on Debian/Ubuntu:
#   apt-get install -y xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 \
#                      libxcb-render-util0 libxcb-image0 libxcb-shape0 libxcb-xkb1 libegl1 libfontconfig1 libdbus-1-3
# Usage: scripts/screenshot.sh [OUT_DIR] [extra l2r-desktop options]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${1:-$ROOT/docs/screenshots}"
shift || true
command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install -y xvfb xauth" >&2; exit 2; }
"$PY" -m l2r_desktop.qt_libs || exit 2  # names the missing X libraries instead of a Qt abort
mkdir -p "$OUT"
export QT_QPA_PLATFORM=xcb
for methods in l2r l2r,gradcam,ig l2r,gradcam,ig,rise,l2r-refine; do
  n=$(tr ',' '\n' <<<"$methods" | wc -l)
  SETTINGS="$(mktemp -d)/settings.ini"  # a fresh settings file: the picture never depends on a user's
  xvfb-run -a -s "-screen 0 1600x1000x24" \
    "$PY" -m l2r_desktop "$ROOT/resources/samples" --screenshot "$OUT/methods_$n.png" --size 1400x900 \
    --settings "$SETTINGS" --methods "$methods" --timeout 600 "$@"
done
