"""`l2r model-card --model M [--weights W] [flags] --out FILE`: write the model card a model loads with."""
from __future__ import annotations

import argparse
import json

from l2r_core.models.card import write_card
from l2r_core.models.loading import card_for

from .common import add_model_args, load_from_args


def add_model_card_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model-card", help="write a model card: input size, resize, normalisation, class names",
                       description="Load the model with the given flags (over <weights>.json, over the model's "
                                   "defaults) and write every setting it ended up with as a model card. Saved as "
                                   "<weights>.json, it is picked up without flags from then on.")
    add_model_args(p, explainer=False)
    p.add_argument("--out", required=True, help="card file to write, e.g. WEIGHTS.json")


def run_model_card(args: argparse.Namespace) -> int:
    args.device = "cpu"
    loaded = load_from_args(args)
    card = card_for(loaded.model, args.model)
    path = write_card(card, args.out)
    print(json.dumps(card.to_dict(), indent=2))
    print(f"wrote {path}")
    return 0
