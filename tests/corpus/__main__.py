"""``python -m tests.corpus OUT_DIR [--large]``: write both corpora (OUT_DIR/images, OUT_DIR/models)."""
from __future__ import annotations

import sys
from pathlib import Path

from .images import make_image_corpus
from .models import make_model_corpus


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    out = Path(args[0] if args else "corpus")
    for item in make_image_corpus(out / "images", large="--large" in argv):
        print(f"image  {'ok    ' if item.ok else 'refuse'} {item.path}  {item.note}")
    for m in make_model_corpus(out / "models"):
        verdict = "ok    " if m.expect_error_substring is None else "refuse"
        print(f"{m.kind:<9} {verdict} {m.name:<32} --model {m.spec} {m.path}  {m.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
