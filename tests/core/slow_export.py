"""`python -m tests.core.slow_export SECONDS ARGS...` (from the repository root): `l2r export` that pauses inside each item,
between its image files and its commit, so a test can kill it mid-item."""
from __future__ import annotations

import sys
import time
from typing import Any

from l2r_core.batch import run
from l2r_training.cli.export import main


def slow_commits(seconds: float) -> None:
    """Make every item commit of the batch export wait ``seconds`` first (in this process)."""
    commit = run.write_item

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return commit(*args, **kwargs)

    run.write_item = slow  # type: ignore[assignment]


if __name__ == "__main__":
    slow_commits(float(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
