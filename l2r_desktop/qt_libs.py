"""System libraries that Qt's X11 platform plugin (``libqxcb.so``) lacks, and the Debian/Ubuntu
packages that provide them.

Minimal Debian installs miss some of them (``libxcb-icccm4``, ``libxcb-keysyms1`` ...) and Qt's
own error then names the plugin, or ``libxcb-cursor0``, not the library it could not load. ``ldd``
on the plugin lists every missing one. ``l2r-desktop`` checks this before it starts Qt and stops
with the apt-get line; ``scripts/run.sh`` runs this module before starting the app and installs
what it prints:

  python -m l2r_desktop.qt_libs              a message and the apt-get line (exit 1), or nothing (exit 0)
  python -m l2r_desktop.qt_libs --packages   only the package names, space-separated
  python -m l2r_desktop.qt_libs --from FILE  read ``ldd`` output from FILE instead of running ldd

It does not import Qt (that is what may fail), only finds where pip put PySide6.
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

# What the xcb plugin of PySide6 6.11 links against on Debian 12 / Ubuntu 22.04-24.04 (checked
# with ldd), for people who install by hand. The system's base (libc, libstdc++, zlib) is left out.
XCB_PACKAGES = (
    "libxcb1", "libx11-6", "libx11-xcb1", "libxcb-cursor0", "libxcb-icccm4", "libxcb-image0",
    "libxcb-keysyms1", "libxcb-randr0", "libxcb-render0", "libxcb-render-util0", "libxcb-shape0",
    "libxcb-shm0", "libxcb-sync1", "libxcb-util1", "libxcb-xfixes0", "libxcb-xkb1", "libxkbcommon0",
    "libxkbcommon-x11-0", "libgl1", "libegl1", "libfontconfig1", "libfreetype6", "libglib2.0-0",
    "libdbus-1-3",
)

# Libraries whose package name does not follow Debian's rule (see ``debian_package``).
EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libpng16.so.16": "libpng16-16",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
    "libexpat.so.1": "libexpat1",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libOpenGL.so.0": "libopengl0",
    "libxcb-util.so.1": "libxcb-util1",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found\s*$")
_SONAME = re.compile(r"^(lib[\w.+-]+?)\.so\.(\d+)")


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reports as "not found", each once, in the order it lists them."""
    found = (m.group(1) for m in map(_NOT_FOUND.match, ldd_output.splitlines()) if m)
    return list(dict.fromkeys(found))


def debian_package(soname: str) -> str:
    """The Debian package that ships ``soname``: the library name lower-cased with its major
    version appended, after a hyphen when the name ends in a digit (Debian policy 8.1):
    libxcb-icccm.so.4 -> libxcb-icccm4, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0."""
    if soname in EXCEPTIONS:
        return EXCEPTIONS[soname]
    m = _SONAME.match(soname)
    if not m:
        return soname
    name, major = m.group(1).lower(), m.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def packages_for(sonames: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(debian_package(s) for s in sonames))


def apt_command(packages: Sequence[str]) -> str:
    return "sudo apt-get install -y --no-install-recommends " + " ".join(packages)


def xcb_plugin() -> Path | None:
    """The installed PySide6's xcb platform plugin, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    for root in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def run_ldd(path: Path) -> str:
    try:
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""  # no ldd (not glibc Linux): nothing can be said, Qt will report itself
    return done.stdout


def missing_message(ldd_output: str) -> str:
    """What to tell the user when the plugin lacks libraries ("" when nothing is missing)."""
    missing = missing_libraries(ldd_output)
    if not missing:
        return ""
    return (f"Qt's X11 platform plugin cannot load {', '.join(missing)}. Install them with:\n"
            f"  {apt_command(packages_for(missing))}")


def xcb_plugin_ldd() -> str:
    """``ldd`` of the installed xcb plugin ("" when there is none or no ldd)."""
    plugin = xcb_plugin()
    return run_ldd(plugin) if plugin is not None else ""


def will_use_xcb(platform_env: str | None, display: str | None) -> bool:
    """Qt picks its X11 plugin when QT_QPA_PLATFORM is unset (and a display exists) or says xcb."""
    if platform_env:
        return platform_env.split(":")[0] == "xcb"
    return bool(display) and sys.platform.startswith("linux")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m l2r_desktop.qt_libs", description=__doc__.split("\n\n")[0])
    p.add_argument("--packages", action="store_true", help="print only the missing packages' names")
    p.add_argument("--from", dest="source", metavar="FILE", help="ldd output to read instead of running ldd")
    args = p.parse_args(argv)
    if args.source:
        text = Path(args.source).read_text(encoding="utf-8", errors="replace")
    else:
        text = xcb_plugin_ldd()
    missing = missing_libraries(text)
    if not missing:
        return 0
    if args.packages:
        print(" ".join(packages_for(missing)))
    else:
        print(missing_message(text), file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
