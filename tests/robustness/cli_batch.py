"""Run many ``l2r`` command lines in ONE Python process, as separate runs would see them.

    python -m tests.robustness.cli_batch CALLS.json RESULTS.json

CALLS.json is a list of {"id": str, "argv": [...]}: each argv is what follows ``l2r`` on the
command line. Each call runs the module ``l2r_training.cli`` as ``__main__`` (``runpy``, the code
path of ``python -m l2r_training.cli``) with its own sys.argv and captured stdout/stderr; an
exception escaping it is printed as Python would print it (a ``Traceback`` on stderr, exit status
1), so the test sees what a user would. Why one process: importing torch + timm costs 5-10 s per
process on a busy machine, and the corpus needs dozens of runs.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import time
import traceback
from typing import Any


def run_one(argv: list[str]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    saved_argv = sys.argv
    sys.argv = ["l2r", *argv]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("l2r_training.cli", run_name="__main__")
            code = 0
        except SystemExit as exc:  # the module ends with sys.exit(main())
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - what `python -m` would print before dying
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = saved_argv
    return {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "seconds": round(time.perf_counter() - start, 3)}


def main(calls_path: str, results_path: str) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    with open(calls_path, encoding="utf-8") as f:
        calls = json.load(f)
    results = {}
    for call in calls:
        results[call["id"]] = run_one([str(a) for a in call["argv"]])
        with open(results_path, "w", encoding="utf-8") as f:  # written after each call: a hard crash keeps the rest
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
