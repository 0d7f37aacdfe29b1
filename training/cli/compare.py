"""`l2r compare RESULTS.json... --reference METHOD`: paired differences between methods of `l2r evaluate`.

Each method is compared with the reference on the images both scored, with a bootstrap interval
of the mean difference (l2r_core.metrics.paired), so a gap of a few thousandths is read as a tie
when the images disagree about it. Results from several files are merged by image; a method
found in more than one file is taken from the last of them (the table names its file).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from l2r_core.atomic import atomic_write_text
from l2r_core.errors import ConfigError
from l2r_core.metrics.paired import CONFIDENCE, PairedDifference, paired_curves

MATCHES = ("path", "name")


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired differences between methods scored by `l2r evaluate --json`",
                       description="Compare each method with a reference method on the images both scored "
                                   "(files written by `l2r evaluate --json`; one protocol and one model). "
                                   "For deletion and insertion it prints the mean per-image difference "
                                   "(method minus reference), its 95% bootstrap interval, how many images "
                                   "the method won, and a verdict: better, worse, or a tie when the interval "
                                   "holds 0.")
    p.add_argument("results", nargs="+", help="JSON files written by `l2r evaluate --json`")
    p.add_argument("--reference", required=True, help="the method every other one is compared with")
    p.add_argument("--methods", help="comma-separated methods to compare (default: all others)")
    p.add_argument("--match", choices=MATCHES, default="path",
                   help="pair images by their path as recorded (default) or by file name alone, for results "
                        "of the same images scored from folders of different names")
    p.add_argument("--json", help="write the comparison here")


@dataclass
class MethodScores:
    source: Path  # the file the method's scores came from
    scores: dict[str, tuple[float, float]]  # image -> (deletion, insertion)


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file. Give a file written by `l2r evaluate --json`.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not readable as JSON ({exc}). Give a file written by "
                          f"`l2r evaluate --json`.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list) \
            or not isinstance(doc.get("protocol"), dict):
        raise ConfigError(f"{path}: not a result of `l2r evaluate --json` (no protocol and results). "
                          f"Write one with `l2r evaluate IMAGES --json {path.name}`.")
    return doc


def load_methods(paths: list[Path], match: str = "path") -> tuple[str, dict[str, MethodScores]]:
    """(protocol name, method -> its per-image scores) from evaluate result files; images are keyed
    by their recorded path, or by file name (``match="name"``), which must then be unique."""
    protocol, model, first = None, None, None
    methods: dict[str, MethodScores] = {}
    for path in paths:
        doc = _read(path)
        name = doc["protocol"].get("name")
        fingerprint = (doc.get("model") or {}).get("fingerprint")
        if protocol is None:
            protocol, model, first = name, fingerprint, path
        elif name != protocol:
            raise ConfigError(f"{path} was scored under protocol {name!r}, {first} under {protocol!r}. "
                              f"Compare results of one protocol.")
        elif fingerprint != model:
            raise ConfigError(f"{path} scored another model than {first} (fingerprint {fingerprint} "
                              f"against {model}). Compare results of one model.")
        found: dict[str, dict[str, tuple[float, float]]] = {}
        for row in doc["results"]:
            scores = (row.get("deletion_auc"), row.get("insertion_auc"))
            if row.get("method") and all(isinstance(v, (int, float)) and math.isfinite(v) for v in scores):
                key = str(row["image"]) if match == "path" else PurePosixPath(str(row["image"])).name
                if key in found.get(row["method"], {}):
                    raise ConfigError(f"{path}: two {row['method']} results for images named {key}. "
                                      f"Pair them by path (--match path).")
                found.setdefault(row["method"], {})[key] = (float(scores[0]), float(scores[1]))
        methods.update({m: MethodScores(path, s) for m, s in found.items()})  # the last file wins
    return str(protocol), methods


def compare(methods: dict[str, MethodScores], reference: str, names: list[str]
            ) -> dict[str, dict[str, PairedDifference]]:
    """method -> {"deletion_auc": ..., "insertion_auc": ...}, each against ``reference``."""
    if reference not in methods:
        raise ConfigError(f"--reference {reference}: no scores for it in the files. "
                          f"They hold {', '.join(sorted(methods)) or 'no scored method'}.")
    missing = [m for m in names if m not in methods]
    if missing:
        raise ConfigError(f"--methods: no scores for {', '.join(missing)} in the files. "
                          f"They hold {', '.join(sorted(methods))}.")
    ref = methods[reference].scores
    out: dict[str, dict[str, PairedDifference]] = {}
    for m in names:
        diffs = paired_curves(methods[m].scores, ref)
        if diffs is None:
            raise ConfigError(f"{m} ({methods[m].source}) and {reference} ({methods[reference].source}) "
                              f"share no image. Score both on the same images, or pair them by file name "
                              f"(--match name) if they came from folders of different names.")
        out[m] = diffs
    return out


def _cell(d: PairedDifference) -> str:
    return f"{d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}] {d.wins:>3}/{d.images:<3} {d.verdict:<6}"


def print_comparison(protocol: str, reference: str, result: dict[str, dict[str, PairedDifference]],
                     methods: dict[str, MethodScores]) -> None:
    print(f"protocol {protocol}; each method minus {reference} ({methods[reference].source}) on the images "
          f"both scored, mean [{CONFIDENCE:.0%} bootstrap interval], images won, verdict")
    print(f"{'method':<12} {'deletion (lower is better)':<45} {'insertion (higher is better)':<45} file")
    for m, d in result.items():
        print(f"{m:<12} {_cell(d['deletion_auc']):<45} {_cell(d['insertion_auc']):<45} {methods[m].source}")


def run_compare(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.results]
    protocol, methods = load_methods(paths, args.match)
    names = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else list(methods)
    names = [m for m in names if m != args.reference]
    if not names:
        raise ConfigError(f"nothing to compare with {args.reference}: the files hold no other method. "
                          f"Score at least two methods with `l2r evaluate --methods`.")
    result = compare(methods, args.reference, names)
    print_comparison(protocol, args.reference, result, methods)
    if args.json:
        doc = {"protocol": protocol, "reference": args.reference, "confidence": CONFIDENCE,
               "methods": {m: {"file": methods[m].source.name, **{k: v.to_dict() for k, v in d.items()}}
                           for m, d in result.items()}}
        atomic_write_text(args.json, json.dumps(doc, indent=2))
    return 0
