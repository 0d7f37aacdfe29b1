"""scripts/run.sh finds the system libraries Qt's X11 plugin lacks (ldd) and installs their Debian
packages, or prints the exact apt-get line. Checked on recorded ldd output and with stand-ins for
apt-get, sudo and id, so it runs on any machine."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from l2r_desktop.qt_libs import (XCB_PACKAGES, debian_package, main, missing_libraries, packages_for, run_ldd,
                                 xcb_plugin)

REPO = Path(__file__).resolve().parents[2]

# ldd of PySide6 6.11's libqxcb.so on a fresh Debian 12 (shortened)
LDD = """\
\tlinux-vdso.so.1 (0x00007ffd6a5f9000)
\tlibQt6XcbQpa.so.6 => /x/.venv/lib/python3.11/site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f3b625d4000)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f3b62537000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f3b62530000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f3b62528000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-render-util.so.0 => /lib/x86_64-linux-gnu/libxcb-render-util.so.0 (0x00007f3b60e00000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibglib-2.0.so.0 => /lib/x86_64-linux-gnu/libglib-2.0.so.0 (0x00007f3b606e6000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f3b626a4000)
"""


def test_the_missing_libraries_are_read_from_ldd_once_each() -> None:
    assert missing_libraries(LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert packages_for(missing_libraries(LDD)) == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert missing_libraries(LDD.replace("not found", "/lib/x.so (0x1)")) == []


@pytest.mark.parametrize("soname, package", [
    ("libxcb-cursor.so.0", "libxcb-cursor0"), ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"), ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libGL.so.1", "libgl1"), ("libEGL.so.1", "libegl1"), ("libdbus-1.so.3", "libdbus-1-3"),
    ("libglib-2.0.so.0", "libglib2.0-0"), ("libxcb-xkb.so.1", "libxcb-xkb1"), ("libfreetype.so.6", "libfreetype6"),
])
def test_library_names_map_to_debian_packages(soname: str, package: str) -> None:
    assert debian_package(soname) == package


def test_the_readme_list_covers_every_x_library_of_the_installed_plugin() -> None:
    plugin = xcb_plugin()
    text = run_ldd(plugin) if plugin is not None else ""
    if not text:
        pytest.skip("no xcb plugin or no ldd on this machine")
    # the X, GL and font libraries (libGLX and libGLdispatch come with libgl1)
    sonames = set(re.findall(r"^\s*(lib(?:xcb\S*|X11\S*|xkbcommon\S*|GL|EGL|fontconfig|freetype|dbus-1)\.so\.\d+)",
                             text, re.MULTILINE))
    assert sonames and {debian_package(s) for s in sonames} <= set(XCB_PACKAGES)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert all(p in readme for p in XCB_PACKAGES)


def test_the_command_prints_the_packages_or_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ldd.txt").write_text(LDD)
    assert main(["--packages", "--from", str(tmp_path / "ldd.txt")]) == 1
    assert capsys.readouterr().out == "libxcb-icccm4 libxcb-keysyms1\n"
    assert main(["--from", str(tmp_path / "ldd.txt")]) == 1
    assert "sudo apt-get install -y --no-install-recommends libxcb-icccm4 libxcb-keysyms1" in capsys.readouterr().err
    (tmp_path / "ok.txt").write_text(LDD.replace("not found", "/lib/x.so (0x1)"))
    assert main(["--packages", "--from", str(tmp_path / "ok.txt")]) == 0 and capsys.readouterr().out == ""


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


def run_ensure(tmp_path: Path, uid: int, sudo: str | None, apt_ok: bool = True) -> subprocess.CompletedProcess:
    """``ensure_qt_libs`` from scripts/run.sh with only stand-ins on PATH."""
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    _stub(bin_, "python", 'echo "libxcb-icccm4 libxcb-keysyms1"; exit 1')  # what qt_libs --packages says
    _stub(bin_, "id", f"echo {uid}")
    _stub(bin_, "env", f'echo "env $*" >> {log}; shift; "$@"')
    _stub(bin_, "apt-get", f'echo "apt-get $*" >> {log}; exit {0 if apt_ok else 100}')
    if sudo is not None:
        _stub(bin_, "sudo", f'echo "sudo $*" >> {log}; {sudo}')
    return subprocess.run(["/bin/bash", "-c", f"source {REPO / 'scripts/run.sh'}; ensure_qt_libs {bin_ / 'python'}"],
                          env={"PATH": str(bin_), "HOME": str(tmp_path)}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)


def test_run_sh_installs_as_root_non_interactively(tmp_path: Path) -> None:
    done = run_ensure(tmp_path, uid=0, sudo=None)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[0] == ("env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                        "libxcb-icccm4 libxcb-keysyms1")
    assert "sudo" not in "\n".join(calls)


def test_run_sh_uses_sudo_without_a_prompt_when_not_on_a_terminal(tmp_path: Path) -> None:
    done = run_ensure(tmp_path, uid=1000, sudo='shift; "$@"')
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "calls.log").read_text().splitlines()[0].startswith("sudo -n env DEBIAN_FRONTEND=noninteractive")


def test_run_sh_prints_the_exact_line_when_it_cannot_install(tmp_path: Path) -> None:
    line = "apt-get install -y --no-install-recommends libxcb-icccm4 libxcb-keysyms1"
    done = run_ensure(tmp_path, uid=1000, sudo=None)  # no sudo at all
    assert done.returncode == 1 and f"As root, run:\n  {line}" in done.stderr
    done = run_ensure(tmp_path, uid=1000, sudo="exit 1")  # sudo refuses (a password is needed)
    assert done.returncode == 1 and f"  sudo {line}" in done.stderr
    done = run_ensure(tmp_path, uid=0, sudo=None, apt_ok=False)  # apt-get fails, even after update
    assert done.returncode == 1 and f"  sudo {line}" in done.stderr
    assert "apt-get update -q" in (tmp_path / "calls.log").read_text()


def test_the_app_names_the_missing_libraries_instead_of_aborting_in_qt(monkeypatch, capsys, tmp_path) -> None:
    from l2r_desktop import app

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    code = app.main(["--settings", str(tmp_path / "s.ini")], read_ldd=lambda: LDD)
    err = capsys.readouterr().err
    assert code == 1
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in err
    assert "apt-get install -y --no-install-recommends libxcb-icccm4 libxcb-keysyms1" in err
    # with the libraries present, or on another platform plugin, nothing is said
    assert app.qt_libraries_problem(lambda: LDD.replace("not found", "/lib/x.so (0x1)")) == ""
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert app.qt_libraries_problem(lambda: LDD) == ""
