"""`l2r export-onnx --model M [--weights W] --explainer E --out FILE [--fused]`: a deployable explainer.

Without --fused the file maps (image, target class) to a map; with --fused it also holds the
target model and maps an image to (logits, map of the top class, top class). Either file is only
written after onnx.checker passes and onnxruntime matches torch (max abs) on a batch of 3.
"""
from __future__ import annotations

import argparse
import types

from l2r_core.errors import ConfigError

from .common import add_card_args


def add_onnx_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-onnx", help="export an explainer (optionally fused with its model) to ONNX")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="demo-cnn",
                   help="demo-cnn, demo-vit or timm:<architecture> (with --weights): a torch model")
    g.add_argument("--weights", help="local weights for timm:<architecture> (.safetensors or .pth state dict)")
    g.add_argument("--class-names", help="text file with one class name per line (or JSON list), stored in the file")
    add_card_args(g, class_names=False)
    g.add_argument("--explainer", help="explainer folder (explainer.json + explainer.safetensors); "
                                       "defaults to the bundled one for demo models")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--fused", action="store_true",
                   help="include the model: image -> logits and the map of the top class")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17, default 17)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest accepted |onnxruntime - torch| (default 1e-4)")


def run_onnx(args: argparse.Namespace) -> int:
    from l2r_core.onnx import export_onnx

    from .common import load_from_args

    if args.model.lower().endswith(".onnx"):
        raise ConfigError(f"--model {args.model}: already ONNX; export starts from the torch model "
                          f"(demo-cnn, demo-vit or timm:<architecture> with --weights).")
    if args.explainer and args.explainer.lower().endswith(".onnx"):
        raise ConfigError(f"--explainer {args.explainer}: already an ONNX file; give the explainer folder "
                          f"(explainer.json + explainer.safetensors).")
    ns = types.SimpleNamespace(**vars(args))
    ns.device = "cpu"  # exported and compared on the CPU, where onnxruntime runs
    loaded = load_from_args(ns, need_explainer=True)  # type: ignore[arg-type]
    if loaded.explainer is None:  # a demo model without a bundled explainer
        raise ConfigError(f"{args.model}: no explainer to export. Pass --explainer DIR.")
    res = export_onnx(loaded.explainer, args.out, fused=args.fused, opset=args.opset, tolerance=args.tolerance)
    print(f"wrote {res.path} ({res.kind}, {res.size_bytes / 1e6:.1f} MB): onnx.checker ok, onnxruntime matches "
          f"torch within {res.max_abs_diff:.2g} (max abs, batch of 3) [{res.seconds:.1f}s]")
    return 0
