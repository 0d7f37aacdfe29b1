"""Rebuild metrics.csv, manifest.json and report.html from the items present (any shard)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .flags import flags_for, worst_cutoffs
from .manifest import build_manifest
from .report import report_html
from .state import read_all_items, read_identity, read_run_records, state_lock
from .table import csv_text
from .writer import write_json, write_text


def rebuild_outputs(out: Path) -> dict[str, Any]:
    """Rewrite the three summary files atomically; returns the manifest."""
    out = Path(out)
    if read_identity(out) is None:
        raise ConfigError(f"{out}: not an export folder (no .state/identity.json). Run `l2r export` into it first.")
    with state_lock(out):
        identity = read_identity(out) or {}
        items = read_all_items(out)
        cutoffs = worst_cutoffs(items)
        flags = [flags_for(it, cutoffs) for it in items]
        manifest = build_manifest(identity, items, read_run_records(out), flags)
        write_text(out / "metrics.csv", csv_text(items, flags), folder=out)
        write_json(out / "manifest.json", manifest, durable=True, folder=out)
        write_text(out / "report.html", report_html(manifest, items, flags), folder=out)
    return manifest
