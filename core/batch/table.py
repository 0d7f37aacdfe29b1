"""metrics.csv: one row per (image, method), rebuilt from the item files."""
from __future__ import annotations

import csv
import io
import math
from typing import Any

COLUMNS = (
    "image", "predicted_class", "predicted_name", "probability", "target_class", "target_name", "method",
    "deletion_auc", "insertion_auc", "protocol", "seconds", "metric_seconds", "border_fraction", "flags",
    "map", "overlay", "curves", "status",
)
TIME_COLUMNS = ("seconds", "metric_seconds")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return str(value).replace("\r", " ").replace("\n", " ")


def csv_row(item: dict[str, Any], flags: list[str]) -> dict[str, str]:
    row = {c: _cell(item.get(c)) for c in COLUMNS}
    row["flags"] = _cell(flags)
    row["curves"] = _cell(item.get("curves_png"))
    return row


def csv_text(items: list[dict[str, Any]], flags: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for item, fl in zip(items, flags):
        writer.writerow(csv_row(item, fl))
    return buf.getvalue()
