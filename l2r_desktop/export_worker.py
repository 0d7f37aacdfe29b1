"""The export's background work for the GUI, as a plain generator (no Qt, no threads).

``export_dialog.ExportViewModel`` hands ``export_job`` to a ``workers.JobRunner``; the job loads its
own copy of the model (a torch module is never shared between threads) and yields one
``ItemResult`` per (image, method) while ``l2r_core.batch.iter_export`` writes the folder.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from l2r_core.progress import Progress

from . import jobs


@dataclass
class ExportRequest:
    images_dir: str
    out_dir: str
    spec: str = "demo-cnn"
    weights: str = ""
    explainer: str = ""
    device: str = "auto"
    methods: list[str] = field(default_factory=list)  # empty: l2r with an explainer, else gradcam
    protocol: str = "aha"
    refine_steps: int = 10
    recursive: bool = False
    curves_png: bool = False
    force: bool = False
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # set in the window, by method


@dataclass
class ExportOutcome:
    out_dir: Path
    computed: int = 0
    skipped: int = 0
    errors: int = 0

    @property
    def report(self) -> Path:
        return self.out_dir / "report.html"


def export_job(req: ExportRequest, progress: Progress) -> Iterator[Any]:
    """Plain generator (no Qt): load the model, then yield one ItemResult per (image, method)."""
    from l2r_core.batch import ExportOptions, iter_export

    loaded = jobs.load_model_job(req.spec, req.weights or None, req.device, req.explainer or None, progress)
    options = ExportOptions(Path(req.images_dir), Path(req.out_dir), req.methods or None, req.protocol,
                            req.recursive, force=req.force, curves_png=req.curves_png,
                            refine_steps=req.refine_steps, explainer_source=req.explainer or None,
                            method_options={m: dict(o) for m, o in req.method_options.items() if o})
    outcome = ExportOutcome(Path(req.out_dir))
    with contextlib.closing(iter_export(loaded.model, options, loaded.explainer, progress)) as items:
        for r in items:
            outcome.computed += r.computed
            outcome.skipped += not r.computed
            outcome.errors += r.status != "ok"
            yield r
    return outcome
