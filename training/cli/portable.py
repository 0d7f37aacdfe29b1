"""Result files that travel: no absolute path of this machine in them."""
from __future__ import annotations

import os
import site
import sys
from pathlib import Path
from typing import Any


def _roots(inputs: list[str]) -> list[tuple[Path, str]]:
    """(absolute folder, how it is written) pairs, most specific first."""
    roots: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(item).resolve()
        folder = p if p.is_dir() else p.parent
        roots.append((folder, folder.name))
    roots.append((Path.cwd().resolve(), "."))
    packages = [*site.getsitepackages(), site.getusersitepackages(), sys.prefix]
    roots += [(Path(s).resolve(), "<site-packages>") for s in packages if s]
    return sorted(roots, key=lambda r: len(str(r[0])), reverse=True)


def portable_path(text: str, roots: list[tuple[Path, str]]) -> str:
    """An absolute path written relative to the input folder, the working folder or the installed
    packages; any other absolute path keeps only its file name."""
    p = Path(text)
    if not p.is_absolute():
        return text
    resolved = p.resolve()
    for root, name in roots:
        try:
            rel = resolved.relative_to(root)
        except ValueError:
            continue
        return str(Path(name) / rel) if name != "." else str(rel)
    return p.name


def portable(doc: Any, inputs: list[str]) -> Any:
    """``doc`` with every absolute path string made portable (see ``portable_path``)."""
    roots = _roots(inputs)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and os.path.isabs(value) and len(value) < 4096:
            return portable_path(value, roots)
        return value

    return walk(doc)
