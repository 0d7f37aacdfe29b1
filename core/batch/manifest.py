"""manifest.json: what produced this folder (model, explainer, preprocessing, protocol, method
options, package versions) and when (first start, last end, one record per run or shard)."""
from __future__ import annotations

from typing import Any

from . import flags as flag_rules

MANIFEST_VERSION = 1


def build_manifest(identity: dict[str, Any], items: list[dict[str, Any]], runs: list[dict[str, Any]],
                   flags: list[list[str]]) -> dict[str, Any]:
    starts = [r["started"] for r in runs if r.get("started")]
    ends = [r["finished"] for r in runs if r.get("finished")]
    ok = sum(1 for it in items if it.get("status") == "ok")
    return {
        "format": "l2r-export-manifest",
        "version": MANIFEST_VERSION,
        "model": identity.get("model"),
        "explainer": identity.get("explainer"),
        "preprocessing": (identity.get("model") or {}).get("preprocessing"),
        "protocol": identity.get("protocol"),
        "methods": identity.get("methods"),
        "images_dir": identity.get("images_dir"),
        "versions": (runs[-1].get("versions") if runs else None) or identity.get("versions"),
        "started": min(starts) if starts else None,
        "finished": max(ends) if ends else None,
        "runs": runs,
        "counts": {
            "images": len({it["image"] for it in items}),
            "results": len(items),
            "ok": ok,
            "errors": len(items) - ok,
            "flagged": sum(1 for f in flags if f),
        },
        "flag_rules": {
            "low_confidence_below": flag_rules.LOW_CONFIDENCE,
            "border_band_width": flag_rules.BORDER_WIDTH,
            "border_mass_above": flag_rules.BORDER_MASS,
            "worst_fraction": flag_rules.WORST_FRACTION,
            "description": (flag_rules.__doc__ or "").strip(),
        },
        "files": {"metrics": "metrics.csv", "report": "report.html", "maps": "maps/", "overlays": "overlays/",
                  "curves": "curves/", "items": ".state/items/"},
    }
