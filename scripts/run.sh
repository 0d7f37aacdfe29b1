#!/usr/bin/env bash
# Installs L2R Inspector and starts the desktop app on the bundled offline demo.
# On Linux it first checks that Qt's X11 plugin finds its system libraries (minimal Debian and
# Ubuntu installs lack some, e.g. libxcb-icccm4 and libxcb-keysyms1, and Qt's own error names
# another one) and installs the missing ones with apt-get when it can (as root, or with sudo).
set -euo pipefail

# ensure_qt_libs PYTHON: install (or print how to install) what `python -m l2r_desktop.qt_libs`
# reports missing. Returns 1 when libraries are still missing.
ensure_qt_libs() {
  local python=$1 packages sudo=()
  packages=$("$python" -m l2r_desktop.qt_libs --packages) && return 0
  [ -n "$packages" ] || return 0  # the check itself failed: let Qt speak for itself
  local line="sudo apt-get install -y --no-install-recommends $packages"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Qt needs these system libraries (Debian/Ubuntu names): $packages" >&2
    echo "Install them with your package manager, then rerun scripts/run.sh." >&2
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "Qt needs system libraries that are missing. As root, run:" >&2
      echo "  ${line#sudo }" >&2
      return 1
    fi
    # sudo may ask for a password on a terminal; never hang without one
    if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  echo "Installing the system libraries Qt needs: $packages"
  # word splitting of $packages is intended: one argument per package
  # shellcheck disable=SC2086
  if ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages ||
     { ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
       ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages; }; then
    return 0
  fi
  echo "Could not install them. Run this, then rerun scripts/run.sh:" >&2
  echo "  $line" >&2
  return 1
}

main() {
  cd "$(dirname "$0")/.."
  bash scripts/setup.sh
  # only where Qt will use its X11 plugin (not when QT_QPA_PLATFORM picks offscreen, wayland ...)
  if [ "$(uname -s)" = Linux ] && [ "${QT_QPA_PLATFORM:-xcb}" = xcb ]; then
    ensure_qt_libs .venv/bin/python || exit 1
  fi
  exec .venv/bin/l2r-desktop "$@"
}

# `source scripts/run.sh` only defines ensure_qt_libs (the tests call it with stand-ins)
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
