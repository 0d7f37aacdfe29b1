"""DESIGN.md §3 boundaries, checked on the source: core imports no GUI/training, training no GUI."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUI = ("PySide6", "pyqtgraph", "superqt", "shiboken6", "l2r_desktop")


def _imports(folder: str) -> list[tuple[str, str]]:
    found = []
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


def test_core_imports_no_gui_or_training() -> None:
    bad = [(f, m) for f, m in _imports("core") if _top(m) in GUI + ("l2r_training", "training")]
    assert bad == []


def test_training_imports_no_gui() -> None:
    bad = [(f, m) for f, m in _imports("training") if _top(m) in GUI]
    assert bad == []


def test_importing_core_loads_no_qt() -> None:
    code = ("import sys, l2r_core, l2r_core.attribution, l2r_core.models; "
            "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','l2r_desktop','l2r_training')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_bare_core_or_training_package_installed() -> None:
    code = "import importlib.util as u, sys; sys.path=[p for p in sys.path if p not in ('', '.')]; " \
           "print(u.find_spec('core'), u.find_spec('training'))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert r.stdout.strip() == "None None", r.stdout + r.stderr
