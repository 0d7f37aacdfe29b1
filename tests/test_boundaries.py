"""The layer boundaries of docs/architecture.md, checked on the source: core imports no GUI/training, training no GUI."""
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


# -- the import graph: every import statement, function-level ones too ----------------------
PACKAGES = {"core": "l2r_core", "training": "l2r_training", "l2r_desktop": "l2r_desktop", "resources": "l2r_resources"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, name in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [name, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its body (``from pkg import sub``
    counts as importing ``pkg.sub``, not ``pkg``)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - (node.level - 1)]
                    name = ".".join(base + ([node.module] if node.module else []))
                else:
                    name = node.module or ""
                subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [name, *subs]
            graph[mod].update(t for t in targets if t in mods and t != mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_import_cycles_even_through_function_level_imports() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_depend_one_way_in_the_graph() -> None:
    graph = import_graph()
    core_out = {t for m, ts in graph.items() if m.startswith("l2r_core") for t in ts}
    training_out = {t for m, ts in graph.items() if m.startswith("l2r_training") for t in ts}
    assert not {t for t in core_out if t.startswith(("l2r_training", "l2r_desktop"))}
    assert not {t for t in training_out if t.startswith("l2r_desktop")}
