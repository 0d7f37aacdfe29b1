"""The `l2r` command line: explain, evaluate, train, export, export-onnx, demo, model-card, average, compare.

User errors (L2RError) end as one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Callable

from l2r_core.errors import L2RError

# (subcommand module, function adding the parser, function running it)
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("l2r_training.cli.explain", "add_explain_parser", "run_explain"),
    ("l2r_training.cli.evaluate", "add_evaluate_parser", "run_evaluate"),
    ("l2r_training.cli.demo", "add_demo_parser", "run_demo"),
    ("l2r_training.cli.train", "add_train_parser", "run_train"),
    ("l2r_training.cli.export", "add_export_parser", "run_export"),
    ("l2r_training.cli.onnx", "add_onnx_parser", "run_onnx"),
    ("l2r_training.cli.model_card", "add_model_card_parser", "run_model_card"),
    ("l2r_training.cli.average", "add_average_parser", "run_average"),
    ("l2r_training.cli.compare", "add_compare_parser", "run_compare"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l2r", description="L2R Inspector: learned attribution maps for image classifiers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module_name, add_name, run_name in SUBCOMMANDS:
        module = importlib.import_module(module_name)
        before = set(sub.choices)
        getattr(module, add_name)(sub)
        run: Callable[[argparse.Namespace], int] = getattr(module, run_name)
        for name in set(sub.choices) - before:
            sub.choices[name].set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    try:
        return int(args._run(args) or 0)
    except L2RError as exc:
        print(f"l2r: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("l2r: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
