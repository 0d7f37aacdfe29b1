"""Batch export of a folder: maps, overlays, metrics.csv, manifest.json and report.html.

Resumable (one committed item file per (image, method)), crash-safe (atomic writes), and
shardable (``shard=(i, n)``; every shard rebuilds the summary files from all items present).
"""
from .flags import border_fraction, flags_for
from .options import ExportOptions, default_methods
from .outputs import rebuild_outputs
from .plan import env_shard, list_entries, parse_shard, shard_entries
from .run import ExportSummary, ItemResult, export_folder, iter_export
from .table import COLUMNS, TIME_COLUMNS
from .writer import ExportWriteError

__all__ = ["COLUMNS", "TIME_COLUMNS", "ExportOptions", "ExportSummary", "ExportWriteError", "ItemResult",
           "border_fraction", "default_methods", "env_shard", "export_folder", "flags_for", "iter_export",
           "list_entries", "parse_shard", "rebuild_outputs", "shard_entries"]
