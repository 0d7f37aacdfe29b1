"""`l2r average EXPLAINER EXPLAINER... --out DIR`: the weight average of checkpoints of one run."""
from __future__ import annotations

import argparse

from l2r_core.explainer.averaging import average_explainers


def add_average_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("average", help="average the weights of several checkpoints of one explainer",
                       description="Write the element-wise mean of the decoder weights of two or more explainer "
                                   "folders (e.g. the last checkpoints of one `l2r train` run: "
                                   "RUN/checkpoints/step_*). Averaged checkpoints often explain unseen images "
                                   "better than any single one. Compare it with them on validation images "
                                   "before using it.")
    p.add_argument("explainers", nargs="+", help="explainer or checkpoint folders of the same explainer")
    p.add_argument("--out", required=True, help="folder to write the averaged explainer to")


def run_average(args: argparse.Namespace) -> int:
    path = average_explainers(args.explainers, args.out)
    print(f"averaged {len(args.explainers)} explainers into {path.parent}")
    return 0
