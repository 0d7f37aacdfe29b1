#!/usr/bin/env bash
# Build the standalone Linux folder app dist/l2r-inspector/ with its .desktop entry and icon, then run
# its --self-test offscreen. Usage: bash packaging/build.sh   (PYTHON=... to use another interpreter)
# Needs: pip install -e '.[package]' (PyInstaller), gcc and readelf (binutils) for the CUDA stubs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$ROOT/build/packaging
DIST=$ROOT/dist
APP=$DIST/l2r-inspector
cd "$ROOT"
start=$(date +%s)

"$PY" -c "import PyInstaller" 2>/dev/null || { echo "build.sh: PyInstaller is missing: $PY -m pip install -e '.[package]'" >&2; exit 2; }
for tool in gcc readelf; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install gcc binutils)" >&2; exit 2; }
done
VERSION=$("$PY" -c 'import importlib.metadata as m; print(m.version("l2r-inspector"))')
echo "== L2R Inspector $VERSION"

# 1. import names as PyInstaller sees them (the folders map to l2r_* names, see setup.py)
rm -rf "$WORK/stage" && mkdir -p "$WORK/stage"
ln -s "$ROOT/core" "$WORK/stage/l2r_core"
ln -s "$ROOT/training" "$WORK/stage/l2r_training"
ln -s "$ROOT/l2r_desktop" "$WORK/stage/l2r_desktop"
ln -s "$ROOT/resources" "$WORK/stage/l2r_resources"

# 2. empty stand-ins for the multi-GB CUDA libraries the CUDA build of torch links against
rm -rf "$WORK/cuda_stubs"
"$PY" packaging/cuda_stubs.py "$WORK/cuda_stubs" >/dev/null

# 3. the folder app
L2R_STAGE="$WORK/stage" L2R_CUDA_STUBS="$WORK/cuda_stubs" \
    "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK/pyinstaller" packaging/l2r-inspector.spec

# 4. desktop entry, icon, version
cp resources/icons/l2r-inspector.png resources/icons/l2r-inspector.svg "$APP/"
sed -e "s|@APPDIR@|$APP|g" -e "s|@VERSION@|$VERSION|g" packaging/l2r-inspector.desktop > "$APP/l2r-inspector.desktop"
echo "$VERSION" > "$APP/VERSION"
built=$(date +%s)

# 5. the built app must load the demo and explain one image offscreen, with no network and no GPU
echo "== self-test"
QT_QPA_PLATFORM=offscreen timeout 900 "$APP/l2r-inspector" --self-test --settings "$WORK/selftest.ini"

echo "== built $APP in $((built - start)) s (self-test $(( $(date +%s) - built )) s), size $(du -sh "$APP" | cut -f1)"
echo "   install the menu entry: cp '$APP/l2r-inspector.desktop' ~/.local/share/applications/"
