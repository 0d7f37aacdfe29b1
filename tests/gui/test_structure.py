"""The desktop package's rules of docs/architecture.md ("Rules the code keeps"), checked on the source (AST), without running Qt."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "l2r_desktop"
THREADING = {"QThread", "QThreadPool", "QRunnable", "threading", "concurrent", "multiprocessing", "_thread"}


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def rel(p: Path) -> str:
    return p.relative_to(PKG).as_posix()


def imported(path: Path) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts = ("l2r_desktop",) + path.relative_to(PKG).with_suffix("").parts
    pkg = parts[:-1] if path.name != "__init__.py" else parts[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(pkg[: len(pkg) - node.level + 1]) if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found |= set(node.name.split("."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= set(node.module.split("."))
    return found


def test_the_package_has_the_expected_layout() -> None:
    names = {rel(p) for p in modules()}
    for needed in ("app.py", "main_window.py", "workers.py", "dialogs.py", "settings.py",
                   "viewmodels/explain.py", "widgets/heatmap_view.py", "widgets/curves_view.py",
                   "widgets/predictions.py", "widgets/thumbnails.py"):
        assert needed in names


@pytest.mark.parametrize("path", modules(), ids=rel)
def test_only_workers_module_creates_threads(path: Path) -> None:
    if rel(path) == "workers.py":
        return
    used = names_used(path) & THREADING
    assert not used, f"{rel(path)} uses {sorted(used)}: only workers.py may create threads"


@pytest.mark.parametrize("path", [p for p in modules() if rel(p).startswith("viewmodels/")], ids=rel)
def test_viewmodels_import_no_widgets(path: Path) -> None:
    bad = [m for m in imported(path) if m.startswith(("l2r_desktop.widgets", "l2r_desktop.main_window",
                                                       "l2r_desktop.dialogs", "l2r_desktop.actions",
                                                       "PySide6.QtWidgets", "pyqtgraph"))]
    assert not bad, f"{rel(path)} imports {bad}"


@pytest.mark.parametrize("name", ["workers.py", "jobs.py", "errors.py", "settings.py"])
def test_workers_and_jobs_never_touch_widgets(name: str) -> None:
    mods = imported(PKG / name)
    bad = [m for m in mods if m.startswith(("PySide6.QtWidgets", "PySide6.QtGui", "pyqtgraph", "l2r_desktop.widgets",
                                            "l2r_desktop.main_window"))]
    assert not bad, f"{name} imports {bad}"
    if name in ("jobs.py", "errors.py"):  # plain functions: testable without Qt
        assert not [m for m in mods if m.startswith("PySide6")]


@pytest.mark.parametrize("path", [p for p in modules() if rel(p).startswith("widgets/")], ids=rel)
def test_widgets_do_not_run_jobs(path: Path) -> None:
    bad = [m for m in imported(path) if m.startswith(("l2r_desktop.workers", "l2r_desktop.jobs"))]
    assert not bad, f"{rel(path)} imports {bad}: widgets forward actions to view-models"

