"""report.html: one self-contained page (inline CSS and JS, no network) that opens offline.

Thumbnails are relative links to the overlay PNGs in the same export folder, so the page stays
small for thousands of images and still works when the folder is copied or zipped as a whole.
Rows a reviewer should look at first (flags, see ``flags.py``) come first; every column sorts
on click. With two methods or more, each is also paired with the first one named on the images
both scored (``l2r_core.metrics.paired``): a gap in the means is a tie unless its interval
excludes 0.
"""
from __future__ import annotations

import html
import math
from typing import Any
from urllib.parse import quote

import numpy as np

from ..metrics.paired import CONFIDENCE, CURVES, PairedDifference, paired_curves
from . import flags as flag_rules

_CSS = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} .meta{color:#555;margin:.2em 0}
table{border-collapse:collapse;margin-top:1em} th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0;user-select:none} th:after{content:" \\2195";color:#aaa}
td.n{text-align:right;font-variant-numeric:tabular-nums} img.t{width:96px;height:auto;display:block}
.flag{display:inline-block;background:#fde2c8;color:#8a4b00;border-radius:3px;padding:0 4px;margin:1px;font-size:12px}
.flag.error{background:#f8c9c9;color:#8a0000} tr.err td{color:#8a0000}
.summary td,.summary th{border:none;padding:2px 10px 2px 0;cursor:default;background:none;position:static}
.summary th:after{content:""} details{margin:.5em 0;color:#444}
"""

_JS = """
function sortBy(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th);
const asc=th.dataset.dir!=='asc';th.parentNode.querySelectorAll('th').forEach(h=>delete h.dataset.dir);th.dataset.dir=asc?'asc':'desc';
const rows=[...t.tBodies[0].rows];const key=r=>{const c=r.cells[i];const v=c.dataset.v!==undefined?c.dataset.v:c.textContent;
const n=parseFloat(v);return isNaN(n)?v.toLowerCase():n};
rows.sort((a,b)=>{const x=key(a),y=key(b);if(typeof x!==typeof y)return typeof x==='number'?-1:1;
return(x<y?-1:x>y?1:0)*(asc?1:-1)});rows.forEach(r=>t.tBodies[0].appendChild(r))}
function onlyFlagged(cb){document.querySelectorAll('#results tbody tr').forEach(r=>{r.style.display=(cb.checked&&r.dataset.flags==='0')?'none':''})}
document.querySelectorAll('#results th').forEach(th=>th.addEventListener('click',()=>sortBy(th)));
"""

_HEADERS = ("overlay", "image", "method", "prediction", "prob.", "deletion AUC", "insertion AUC",
            "border mass", "flags", "seconds", "status")


def _num(value: Any, digits: int = 3) -> tuple[str, str]:
    """(text shown, sort value)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", ""
    return f"{float(value):.{digits}f}", repr(float(value))


def _td_num(value: Any, digits: int = 3) -> str:
    text, v = _num(value, digits)
    return f'<td class="n" data-v="{v}">{text}</td>'


def _row(item: dict[str, Any], fl: list[str]) -> str:
    esc = html.escape
    ok = item.get("status") == "ok"
    thumb = ""
    if item.get("overlay"):
        href = quote(item["overlay"])
        link = quote(item["curves_png"]) if item.get("curves_png") else href
        thumb = f'<a href="{link}"><img class="t" loading="lazy" src="{href}" alt=""></a>'
    pred = item.get("predicted_name")
    pred_text = f"{esc(str(pred))} ({item.get('predicted_class')})" if pred is not None else ""
    badges = "".join(f'<span class="flag {esc(f)}">{esc(f)}</span>' for f in fl)
    cells = [
        f"<td>{thumb}</td>", f"<td>{esc(item['image'])}</td>", f"<td>{esc(item['method'])}</td>",
        f"<td>{pred_text}</td>", _td_num(item.get("probability")), _td_num(item.get("deletion_auc")),
        _td_num(item.get("insertion_auc")), _td_num(item.get("border_fraction"), 2),
        f'<td data-v="{len(fl)}">{badges}</td>', _td_num(item.get("seconds"), 2),
        f"<td>{esc(str(item.get('status', '')))}</td>",
    ]
    cls = "" if ok else ' class="err"'
    return f'<tr{cls} data-flags="{len(fl)}">{"".join(cells)}</tr>'


def _summary(items: list[dict[str, Any]]) -> str:
    rows = []
    for m in sorted({it["method"] for it in items}):
        ok = [it for it in items if it["method"] == m and it.get("status") == "ok"]
        dele = [float(it["deletion_auc"]) for it in ok if it.get("deletion_auc") is not None]
        ins = [float(it["insertion_auc"]) for it in ok if it.get("insertion_auc") is not None]
        secs = [float(it["seconds"]) for it in ok if it.get("seconds") is not None]
        mean = lambda v: (f"{np.mean(f):.3f}" if (f := [x for x in v if np.isfinite(x)]) else "")  # noqa: E731
        rows.append(f"<tr><td>{html.escape(m)}</td><td>{len(ok)}</td><td>{mean(dele)}</td><td>{mean(ins)}</td>"
                    f"<td>{mean(secs)}</td></tr>")
    head = "<tr><th>method</th><th>ok</th><th>mean deletion AUC (lower better)</th>" \
           "<th>mean insertion AUC (higher better)</th><th>mean seconds</th></tr>"
    return f'<table class="summary">{head}{"".join(rows)}</table>'


def _scores(items: list[dict[str, Any]], method: str) -> dict[str, tuple[float, float]]:
    """image -> (deletion, insertion) of ``method``'s finite results."""
    out = {}
    for it in items:
        if it["method"] == method and it.get("status") == "ok":
            pair = (it.get("deletion_auc"), it.get("insertion_auc"))
            if all(v is not None and np.isfinite(float(v)) for v in pair):
                out[it["image"]] = (float(pair[0]), float(pair[1]))
    return out


def _paired_cell(d: PairedDifference) -> str:
    return (f"<td>{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]</td><td>{d.wins}/{d.images}</td>"
            f"<td><b>{d.verdict}</b></td>")


def _paired(items: list[dict[str, Any]], methods: list[str]) -> str:
    """Each method minus the first, per image, with its bootstrap interval ("" for one method)."""
    if len(methods) < 2:
        return ""
    reference, ref = methods[0], _scores(items, methods[0])
    rows = []
    for m in methods[1:]:
        diffs = paired_curves(_scores(items, m), ref)
        if diffs is not None:
            cells = "".join(_paired_cell(diffs[key]) for key, _ in CURVES)
            rows.append(f"<tr><td>{html.escape(m)}</td>{cells}</tr>")
    if not rows:
        return ""
    head = ("<tr><th>method</th><th>deletion difference</th><th>won</th><th>verdict</th>"
            "<th>insertion difference</th><th>won</th><th>verdict</th></tr>")
    return (f'<p class="meta">Each method minus <b>{html.escape(reference)}</b> on the images both scored: '
            f'mean [{CONFIDENCE:.0%} bootstrap interval], images won, and better, worse or a tie when the '
            f'interval holds 0.</p><table class="summary" id="paired">{head}{"".join(rows)}</table>')


def review_order(items: list[dict[str, Any]], flags: list[list[str]]) -> list[int]:
    """Flagged results first (errors, then by number of flags), each group by image and method."""
    def key(i: int) -> tuple[int, int, str, str]:
        fl = flags[i]
        return (0 if fl else 1, -("error" in fl) * 10 - len(fl), items[i]["image"], items[i]["method"])

    return sorted(range(len(items)), key=key)


def _method_order(manifest: dict[str, Any], items: list[dict[str, Any]]) -> list[str]:
    """The methods as the export named them; those only in the results follow, sorted."""
    present = {it["method"] for it in items}
    named = [m for m in (manifest.get("methods") or {}) if m in present]
    return named + sorted(present - set(named))


def report_html(manifest: dict[str, Any], items: list[dict[str, Any]], flags: list[list[str]]) -> str:
    esc = html.escape
    model = manifest.get("model") or {}
    proto = manifest.get("protocol") or {}
    explainer = manifest.get("explainer") or {}
    counts = manifest.get("counts") or {}
    body = "".join(_row(items[i], flags[i]) for i in review_order(items, flags))
    head = "".join(f"<th>{h}</th>" for h in _HEADERS)
    rules = esc(flag_rules.__doc__ or "").strip()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>L2R export report</title>
<style>{_CSS}</style></head><body>
<h1>L2R Inspector export</h1>
<p class="meta">Model <b>{esc(str(model.get('name')))}</b> ({esc(str(model.get('kind')))}, fingerprint
{esc(str(model.get('fingerprint'))[:16])}) &middot; explainer {esc(str(explainer.get('fingerprint', 'none'))[:16])}
&middot; images from {esc(str(manifest.get('images_dir')))}</p>
<p class="meta">Protocol <b>{esc(str(proto.get('name')))}</b>: {esc(str(proto.get('description', '')))}</p>
<p class="meta">{counts.get('images', 0)} images, {counts.get('results', 0)} results, {counts.get('errors', 0)} errors,
<b>{counts.get('flagged', 0)} flagged</b> &middot; {esc(str(manifest.get('started')))} to {esc(str(manifest.get('finished')))}</p>
{_summary(items)}
{_paired(items, _method_order(manifest, items))}
<details><summary>How results are flagged</summary><pre>{rules}</pre></details>
<label><input type="checkbox" onchange="onlyFlagged(this)"> show flagged only</label>
<table id="results"><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<script>{_JS}</script>
</body></html>
"""
