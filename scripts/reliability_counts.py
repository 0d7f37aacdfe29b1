#!/usr/bin/env python
"""Run the robustness tests and count what they tried: inputs, crashes, files lost or half-written.

    .venv/bin/python scripts/reliability_counts.py [--slow] [--json OUT.json] [-- extra pytest args]

The tests append one JSON line per input tried and per output folder scanned to the file named by
L2R_RELIABILITY_LOG (tests/robustness/ledger.py defines "crash" and "lost or half-written").
Exit status 0 only when pytest passed, crashes == 0 and files lost or half-written == 0.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = ["tests/robustness", "tests/gui/test_robustness_gui.py"]


def run_tests(log: Path, slow: bool, extra: list[str]) -> tuple[int, str, str]:
    env = dict(os.environ, L2R_RELIABILITY_LOG=str(log), QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    if slow:
        env["L2R_SLOW"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODULES, *extra]
    proc = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    summary = next((ln for ln in reversed(lines) if re.search(r"\d+ (passed|failed|error)", ln)), "")
    failures = "" if proc.returncode == 0 else proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc.returncode, summary.strip("= "), failures


def read_log(log: Path) -> tuple[list[dict], list[dict]]:
    inputs, scans = [], []
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            (inputs if rec["type"] == "input" else scans).append(rec)
    return inputs, scans


def report(inputs: list[dict], scans: list[dict], summary: str) -> dict:
    crashes = [r for r in inputs if r["crash"]]
    problems = [f"{s['where']}: {p}" for s in scans for p in s["problems"]]
    per_entry = Counter(r["entry"].split(":")[0] for r in inputs)
    print(f"pytest: {summary}")
    print(f"inputs tried: {len(inputs)} ({', '.join(f'{k} {v}' for k, v in sorted(per_entry.items()))})")
    print(f"output folders scanned: {len(scans)}")
    print(f"crashes: {len(crashes)}")
    for r in crashes:
        print(f"  - {r['entry']} / {r['item']}: {r['outcome']} {r['detail'][:120]}")
    print(f"files lost or half-written: {len(problems)}")
    for p in problems:
        print(f"  - {p}")
    return {"pytest": summary, "inputs": len(inputs), "per_entry": dict(per_entry), "scans": len(scans),
            "crashes": [{k: r[k] for k in ("entry", "item", "outcome", "detail")} for r in crashes],
            "files_lost_or_half_written": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slow", action="store_true", help="include the 50 MP image (L2R_SLOW=1)")
    ap.add_argument("--json", help="also write the counts here")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "reliability.jsonl"
        rc, summary, failures = run_tests(log, args.slow, args.pytest_args)
        inputs, scans = read_log(log)
    counts = report(inputs, scans, summary)
    if failures:
        print("\n--- pytest output (tests failed) ---\n" + failures, file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(counts, indent=2), encoding="utf-8")
    ok = rc == 0 and not counts["crashes"] and not counts["files_lost_or_half_written"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
