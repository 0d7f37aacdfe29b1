"""Entry point: ``l2r-desktop`` / ``python -m l2r_desktop``.

  l2r-desktop [IMAGE_OR_FOLDER ...]    open the window on the offline demo (or on these paths)
  l2r-desktop [PATHS] --model SPEC [--weights W] [--explainer DIR] [card flags]
                                       start on that model, given as the `l2r` CLI takes it
  l2r-desktop --self-test              load the demo, explain one sample offscreen, exit 0 if it worked
  l2r-desktop --screenshot out.png     save a picture of the window once the first map is shown, exit
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence


CARD_FLAGS = ("model_card", "input_size", "resize", "crop_pct", "mean", "std", "interpolation", "channels",
              "class_names")


def build_parser() -> argparse.ArgumentParser:
    from l2r_core.images import LIMIT_SETTING, MAX_PIXELS, format_pixels
    from l2r_training.cli.common import add_card_args, pixel_count

    p = argparse.ArgumentParser(prog="l2r-desktop", description="L2R Inspector: audit image classifiers.")
    p.add_argument("paths", nargs="*", help="images or folders to open (default: the bundled sample photos)")
    p.add_argument("--self-test", action="store_true", help="explain one sample offscreen and exit (0 = ok)")
    p.add_argument("--screenshot", metavar="PNG", help="save the window after the first explanation, then exit")
    p.add_argument("--methods", metavar="A,B", help="methods to show first, e.g. gradcam,ig (the first is the main one)")
    p.add_argument("--settings", metavar="INI", help="use this settings file instead of the user's")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds --self-test/--screenshot may take")
    p.add_argument("--size", default="1360x900", help="window size for --screenshot, WIDTHxHEIGHT")
    p.add_argument("--max-pixels", type=pixel_count, metavar="N",
                   help=f"open images up to N pixels, e.g. 1G or 40000x30000 (default {format_pixels(MAX_PIXELS)}; "
                        f"remembered as the {LIMIT_SETTING} setting). Larger images are downscaled while decoded.")
    g = p.add_argument_group("model (default: the offline demo, demo-cnn with its bundled explainer)")
    g.add_argument("--model", metavar="SPEC",
                   help="demo-cnn, demo-vit, timm:<architecture> (with --weights), or a .onnx / TorchScript file")
    g.add_argument("--weights", metavar="W", help="local weights for timm:<architecture> (.safetensors or .pth)")
    g.add_argument("--explainer", metavar="DIR",
                   help="explainer folder (or exported .onnx); defaults to the bundled one for demo models")
    add_card_args(g)
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.model is None:
        given = [f"--{k.replace('_', '-')}" for k in CARD_FLAGS if getattr(args, k, None) is not None]
        given += ["--weights"] * bool(args.weights) + ["--explainer"] * bool(args.explainer)
        given += ["--model-arg"] * bool(args.model_arg)
        if given:
            p.error(f"{', '.join(given)} describe a model: add --model SPEC (e.g. --model timm:resnet50).")
    return args


def model_options(args: argparse.Namespace) -> dict[str, object]:
    """The model-card flags as ``load_model`` options, validated (a bad value names the flag)."""
    from l2r_training.cli.common import card_options

    return card_options(args) if args.model else {}


def release_freed_memory(_seconds: float = 0.0) -> None:
    """Give memory freed after an explanation back to the system. glibc keeps freed blocks of the
    worker thread's arena (inputs, maps, perturbed batches of varying sizes) and the process grows
    while browsing; malloc_trim returns them (about 200 MB with the demo model). Linux only."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # another C library: nothing to trim
        pass


def _select_methods(window: "object", methods: str) -> None:
    """Apply --methods once the model's method list is known."""
    names = [m.strip() for m in methods.split(",") if m.strip()]
    vm = window.explain  # type: ignore[attr-defined]

    def apply(_: object = None) -> None:
        vm.methodsChanged.disconnect(apply)
        if names:
            vm.set_compare(names[1:])
            vm.set_primary(names[0])

    vm.methodsChanged.connect(apply)


def qt_libraries_problem(read_ldd: Callable[[], str] | None = None) -> str:
    """Why Qt's X11 plugin would abort the process (missing system libraries), or "". Checked
    before QApplication exists, because Qt's own message names the wrong library."""
    from . import qt_libs

    if not qt_libs.will_use_xcb(os.environ.get("QT_QPA_PLATFORM"), os.environ.get("DISPLAY")):
        return ""
    return qt_libs.missing_message((read_ldd or qt_libs.xcb_plugin_ldd)())


def main(argv: Sequence[str] | None = None, read_ldd: Callable[[], str] | None = None) -> int:
    args = parse_args(argv)
    from l2r_core.errors import L2RError

    try:
        options = model_options(args)
    except L2RError as exc:
        print(f"l2r-desktop: {exc}", file=sys.stderr)
        return 2
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = qt_libraries_problem(read_ldd)
    if problem:
        print(f"l2r-desktop: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("L2R")
    app.setApplicationName("Inspector")
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    from . import jobs
    from .main_window import MainWindow
    from .settings import AppSettings
    from .workers import JobRunner

    settings = AppSettings(args.settings) if args.settings else AppSettings()
    if args.max_pixels is not None:  # remembered: the window's readers take it from the settings
        from l2r_core.images import LIMIT_SETTING

        settings.set(LIMIT_SETTING, args.max_pixels)
    runner = JobRunner()
    runner.submit("preload", jobs.preload, "Loading libraries", stale_on_new=False)  # overlaps window set-up
    window = MainWindow(settings, runner)
    # Long-lived start-up objects (torch, timm, widgets) leave the cyclic collector's scans: its full
    # passes over them are the longest pauses the GUI thread would otherwise see.
    gc.collect()
    gc.freeze()
    # and the model, once loaded (collected first: garbage frozen now could never be freed)
    window.models.modelChanged.connect(lambda _info: (gc.collect(), gc.freeze()))
    window.explain.explained.connect(release_freed_memory)
    if args.screenshot:
        w, h = (int(v) for v in args.size.lower().split("x"))
        window.resize(w, h)
    if args.methods:
        _select_methods(window, args.methods)
    window.show()
    started = time.perf_counter()
    outcome = {"code": 0}
    unattended = bool(args.self_test or args.screenshot)
    # Unattended runs wait in a local loop: quitting the application itself would leave an
    # embedding process (tests, the packaging check) with a QApplication that cannot activate windows.
    loop = QEventLoop()
    if unattended:
        from . import dialogs

        # unattended: report problems on stderr instead of waiting for a click
        dialogs.show_error = lambda parent, title, message, details="": print(  # type: ignore[assignment]
            f"error dialog: {title}: {message}", file=sys.stderr)
        _watch_first_result(window, loop, args, started, outcome)
    if args.model:
        _start_with_model(window, args, options)
    else:
        window.start_demo(args.paths or None)
    if unattended:
        loop.exec()
        window.deleteLater()
        return outcome["code"]
    return int(app.exec())


def _start_with_model(window: "object", args: argparse.Namespace, options: dict[str, object]) -> None:
    """``--model SPEC [--weights W] [--explainer E]`` on the paths (the sample photos by default).
    Demo models get their bundled explainer when none is given, as with the ``l2r`` CLI."""
    from l2r_core.models.demo import demo_explainer_dir

    from .main_window import sample_folder

    explainer, optional = args.explainer, False
    if explainer is None and (bundled := demo_explainer_dir(args.model)) is not None:
        explainer, optional = str(bundled), True
    window.models.load(args.model, args.weights, explainer, optional_explainer=optional,  # type: ignore[attr-defined]
                       options=options)
    window.open_paths(args.paths or [str(sample_folder())])  # type: ignore[attr-defined]


def _watch_first_result(window: "object", loop: "object", args: argparse.Namespace, started: float,
                        outcome: dict[str, int]) -> None:
    """Exit once the first map and its curves are on screen (or on an error / the timeout)."""
    from PySide6.QtCore import Qt, QTimer

    w = window  # type: ignore[assignment]

    deadline = QTimer(w)  # type: ignore[arg-type]
    deadline.setSingleShot(True)

    def finish(code: int, message: str) -> None:
        if "done" in outcome:
            return
        outcome["done"] = 1
        outcome["code"] = code
        deadline.stop()
        print(message, flush=True)
        w.close()  # type: ignore[attr-defined]
        loop.quit()  # type: ignore[attr-defined]

    def on_first() -> None:
        seconds = time.perf_counter() - started
        keys = w.heatmap.panel_keys()  # type: ignore[attr-defined]
        curves = w.curves.legend_labels("deletion")  # type: ignore[attr-defined]
        if not keys or not curves:
            finish(1, f"self-test FAILED: heatmap {keys}, curves {curves}")
            return
        msg = f"first explanation shown after {seconds:.2f} s: maps {keys}; deletion legend {curves}"
        if args.screenshot:
            print(msg, flush=True)
            # every requested method done: let layout and paint settle, then grab the window
            w.explain.explained.connect(  # type: ignore[attr-defined]
                lambda _s: QTimer.singleShot(800, lambda: (_save(w, args.screenshot),
                                                           finish(0, f"saved {args.screenshot}"))))
        else:
            finish(0, "self-test ok: " + msg)

    def on_error(title: str, message: str, *_: object) -> None:
        finish(1, f"self-test FAILED: {title}: {message}")

    w.explain.firstShown.connect(on_first, Qt.ConnectionType.SingleShotConnection)  # type: ignore[attr-defined]
    w.explain.error.connect(on_error)  # type: ignore[attr-defined]
    w.models.loadFailed.connect(on_error)  # type: ignore[attr-defined]
    deadline.timeout.connect(lambda: finish(2, f"self-test FAILED: nothing shown in {args.timeout} s"))
    deadline.start(int(args.timeout * 1000))


def _save(window: "object", path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(path)  # type: ignore[attr-defined]


if __name__ == "__main__":
    raise SystemExit(main())
