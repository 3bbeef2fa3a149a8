"""The ``convviz`` command: list a model's layers, render feature-map grids to picture files,
export pages that scrub them offline.

Every failure is one line on stderr (``convviz: …``) and a non-zero exit status: 2 for bad
input (arguments, files, layers), 1 for anything unexpected, 130 when interrupted. Set
``CONVVIZ_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

#: Largest ``--tile`` (pixels a side): a feature map has at most a few hundred cells a side, so
#: 1024 already shows each cell as a block of several pixels.
MAX_TILE = 1024
#: Largest grid ``render`` writes, in pixels: 50 megapixels (150 MB of RGB before compression),
#: far more than a screen or a page shows; over it, ``render`` says which ``--tile`` fits.
MAX_GRID_PIXELS = 50_000_000
#: Longest message printed; Keras and TensorFlow errors can run to pages.
MAX_MESSAGE = 400


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block above them)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see '{self.prog} --help'.\n")


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``)."""
    span = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {text!r}"
                                             ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, got {value}")
        return value

    return parse


def _load_model(spec: str) -> Any:
    """A bundled model by name, or a Keras model file; a ValueError for anything else."""
    from . import zoo

    if spec in zoo.model_names():
        return zoo.load_model(spec)
    path = Path(spec)
    fix = f"give a .keras file or a model of the zoo ({', '.join(zoo.model_names())})"
    if not path.exists():
        raise ValueError(f"no model file at {spec!r}; {fix}.")
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5") or not path.is_file():
        raise ValueError(f"{spec!r} is not a Keras model file; {fix}.")
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise ValueError(f"{spec!r} is not a Keras model file (a .keras file is a zip archive); "
                         "save the model with model.save('model.keras').")
    import keras

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:  # Keras raises many kinds for a bad file: all are bad input here
        raise ValueError(f"could not load a model from {spec!r} ({_one_line(err)}); "
                         "save the model with model.save('model.keras').") from None


def _load_image(spec: str) -> Any:
    from . import zoo

    if spec in zoo.image_names():
        return zoo.load_image(spec)
    if not os.path.isfile(spec):
        raise ValueError(f"no image file at {spec!r}; give an image file or a bundled sample "
                         f"({', '.join(zoo.image_names())}).")
    return spec


def _layers(args: argparse.Namespace) -> None:
    model = _load_model(args.model)
    from .engine.probe import ActivationProbe

    for info in ActivationProbe(model).layers:
        print(info.describe())


def _render(args: argparse.Namespace) -> None:
    from .engine.files import check_picture_path

    out = check_picture_path(args.out)  # before any work
    model = _load_model(args.model)
    from .engine.probe import shared_probe
    from .export import layer_grid, save_grid

    probe = shared_probe(model)
    _check_grid_size(probe.layer(args.layer), args.columns, args.tile)
    grid = layer_grid(probe, _load_image(args.image), args.layer, columns=args.columns,
                      tile=args.tile, cmap=args.cmap, norm=args.norm)
    print(save_grid(grid, out))


def _check_grid_size(info: Any, columns: int, tile: int, gap: int = 1) -> None:
    """Refuse a grid over :data:`MAX_GRID_PIXELS` before rendering it (tiles are at most
    ``tile`` pixels a side)."""
    if not info.is_spatial or not info.channels:
        return  # not feature maps: rendering says so
    count = int(info.channels)
    columns = min(columns, count)
    rows = -(-count // columns)
    width, height = columns * (tile + gap) - gap, rows * (tile + gap) - gap
    if width * height > MAX_GRID_PIXELS:
        fits = max(1, math.isqrt(MAX_GRID_PIXELS // (columns * rows)) - gap)
        raise ValueError(f"the grid of {count} channels of {info.path!r} would be {width}×{height} "
                         f"pixels, more than the limit of {MAX_GRID_PIXELS / 1e6:g} megapixels; "
                         f"use --tile {fits} or less.")


def _faithfulness(args: argparse.Namespace) -> None:
    """Pointing game, deletion/insertion AUCs and the randomization check, per method."""
    import numpy as np

    from . import zoo
    from .engine.cam import METHODS
    from .engine.faithfulness import (
        causal_curves,
        paper_tolerance,
        pointing_game,
        randomization_check,
        target_probability,
    )
    from .engine.probe import ActivationProbe
    from .zoo.shapes import SHAPE_CLASSES, two_shape_scenes

    probe = ActivationProbe(_load_model(args.model))
    names = zoo.class_names(args.model)
    if set(names) != set(SHAPE_CLASSES):
        raise ValueError(f"the faithfulness report needs a model over the shape classes "
                         f"{list(SHAPE_CLASSES)}; {args.model!r} has {names}.")
    scenes = list(two_shape_scenes(args.scenes))
    cascade = [info.name for info in reversed(probe.layers) if info.layer.weights][:3]
    probes = {id(probe.model): probe}  # one probe per model: each traced once

    def probe_of(model: Any) -> Any:
        if id(model) not in probes:
            probes[id(model)] = ActivationProbe(model)
        return probes[id(model)]

    print(f"{args.model}, layer {args.layer}, {len(scenes)} two-shape scenes; randomized "
          f"cascade: {', '.join(cascade)}")
    tolerance = paper_tolerance(probe.input_spec.height)
    print(f"{'method':16s} {'pointing':>8s} {f'±{tolerance:.1f}px':>8s} {'deletion':>9s} "
          f"{'insertion':>9s}  rank correlation after randomizing")
    for method in METHODS:
        def explain(image: Any, index: int, method: str = method) -> Any:
            return probe.cam(image, args.layer, index, method).upsampled

        rate = pointing_game(explain, scenes, names)
        near = pointing_game(explain, scenes, names, tolerance)
        deletion, insertion = [], []
        for image, masks in scenes:
            for name in masks:
                index = names.index(name)
                curves = causal_curves(target_probability(probe, index), image,
                                       explain(image, index))
                deletion.append(curves.deletion_auc)
                insertion.append(curves.insertion_auc)
        image, masks = scenes[0]
        index = names.index(sorted(masks)[0])
        steps = randomization_check(
            lambda model, picture, index=index, method=method: probe_of(model).cam(
                picture, args.layer, index, method).map, probe.model, image, cascade)
        correlations = " ".join(f"{step.rank_correlation:+.2f}" for step in steps[1:])
        print(f"{method:16s} {rate:8.1%} {near:8.1%} {np.mean(deletion):9.3f} "
              f"{np.mean(insertion):9.3f}  {correlations}")


def _precompute(args: argparse.Namespace) -> None:
    """Filter patterns of a layer computed ahead and stored in a folder, for FilterGallery."""
    model = _load_model(args.model)
    from .engine.featvis import precompute

    filters = range(args.first, args.first + args.count)
    patterns = precompute(model, args.layer, filters, args.preset, args.folder,
                          batch_size=args.batch)
    dead = [p.filter for p in patterns if p.dead]
    print(f"{len(patterns)} patterns of {args.layer} ({args.preset}) in {args.folder}"
          + (f"; dead filters: {dead}" if dead else ""))
    print(f"open them with FilterGallery(model, layer={args.layer!r}, "
          f"preset={args.preset!r}, cache=PatternCache({str(args.folder)!r}))")


def _fetch(args: argparse.Namespace) -> None:
    """ImageNet weights into Keras' cache, for an offline lecture."""
    from .zoo import imagenet

    for name, path, size in imagenet.fetch(args.models):
        print(f"{name}: {size / 2**20:.0f} MB in {path}")
    print(f"zoo.load_model(name) now loads them from {imagenet.keras_cache()} with no network.")


def _export(args: argparse.Namespace) -> None:
    """A page that scrubs a LayerBrowser's grids or a CAMOverlay's maps with no kernel."""
    model = _load_model(args.model)
    image = _load_image(args.image)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    out = Path(args.out)
    if args.view == "feature-maps":
        from .widgets.layer_browser import LayerBrowser

        browser = LayerBrowser(model, image=image, page_size=args.page_size,
                               columns=args.columns, cmap=args.cmap, norm=args.norm)
        path = browser.export_html(out, layers=layers)
    else:
        from .widgets.cam_overlay import CAMOverlay

        overlay = CAMOverlay(model, image=image, method=args.method)
        path = overlay.export_html(out, layers=layers)
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MB): open it in a browser; "
          f"arrows or sliders change the frame.")


def _one_line(error: BaseException) -> str:
    """An error's message on one line, cut to :data:`MAX_MESSAGE` characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="convviz", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    layers = commands.add_parser("layers", help="list the layers of a model")
    layers.add_argument("--model", default="shapes", help="bundled model name or .keras file")
    layers.set_defaults(run=_layers)
    render = commands.add_parser("render", help="render a layer's feature maps to a picture file")
    render.add_argument("--model", default="shapes", help="bundled model name or .keras file")
    render.add_argument("--image", default="star", help="bundled sample name or image file")
    render.add_argument("--layer", default="block1_conv1")
    render.add_argument("--out", default="grid.png",
                        help="picture to write: .png, .jpg, .jpeg, .bmp or .webp")
    render.add_argument("--columns", type=_whole(1), default=8, help="tiles per row")
    render.add_argument("--tile", type=_whole(1, MAX_TILE), default=64,
                        help=f"tile size in pixels, 1 to {MAX_TILE}")
    render.add_argument("--cmap", default="viridis")
    render.add_argument("--norm", default="channel", choices=("channel", "layer", "symmetric"))
    render.set_defaults(run=_render)
    faithful = commands.add_parser(
        "faithfulness", help="measure every CAM method on two-shape scenes: pointing game, "
                             "deletion/insertion AUC, randomization sanity check")
    faithful.add_argument("--model", default="shapes", help="bundled model name")
    faithful.add_argument("--layer", default="block4_conv2")
    faithful.add_argument("--scenes", type=_whole(1), default=40)
    faithful.set_defaults(run=_faithfulness)
    ahead = commands.add_parser(
        "precompute", help="compute a layer's filter patterns ahead and store them in a folder")
    ahead.add_argument("--model", default="shapes", help="bundled model name or .keras file")
    ahead.add_argument("--layer", default="block4_conv2", help="a Conv2D layer")
    ahead.add_argument("--first", type=_whole(0), default=0, help="first filter (default 0)")
    ahead.add_argument("--count", type=_whole(1), default=16,
                       help="number of filters (default 16)")
    ahead.add_argument("--preset", default="tutorial", choices=("tutorial", "clean"))
    ahead.add_argument("--batch", type=_whole(1), default=None,
                       help="filters per batch (default all)")
    ahead.add_argument("folder", help="where the patterns go (.npz files)")
    ahead.set_defaults(run=_precompute)
    fetch = commands.add_parser(
        "fetch", help="download ImageNet weights into Keras' cache for offline use")
    fetch.add_argument("models", nargs="+", metavar="MODEL",
                       choices=("vgg16", "resnet50", "mobilenetv2"),
                       help="vgg16 (528 MB), resnet50 (98 MB), mobilenetv2 (14 MB)")
    fetch.set_defaults(run=_fetch)
    export = commands.add_parser(
        "export", help="write one HTML file that scrubs layers and pages (or classes) offline")
    export.add_argument("view", choices=("feature-maps", "cam"),
                        help="a LayerBrowser's grids, or a CAMOverlay's maps")
    export.add_argument("out", help="the page to write (.html)")
    export.add_argument("--model", default="shapes", help="bundled model name or .keras file")
    export.add_argument("--image", default="star", help="bundled sample name or image file")
    export.add_argument("--layers", default=None,
                        help="comma-separated layers (default: every one)")
    export.add_argument("--page-size", type=_whole(1), default=64,
                        help="channels per page (feature maps)")
    export.add_argument("--columns", type=_whole(1), default=8, help="tiles per row")
    export.add_argument("--cmap", default="viridis", help="colormap (feature maps)")
    export.add_argument("--norm", default="channel", choices=("channel", "layer", "symmetric"))
    export.add_argument("--method", default="gradcam", help="explanation method (cam)")
    export.set_defaults(run=_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``convviz``; returns the exit status (never raises, unless
    ``CONVVIZ_DEBUG`` is set)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, or a bad argument already reported on one line
        return done.code if isinstance(done.code, int) else 2
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("convviz: interrupted.", file=sys.stderr)
        return 130
    except Exception as err:  # one line for the user, never a traceback
        if os.environ.get("CONVVIZ_DEBUG", "") not in ("", "0"):
            raise
        if isinstance(err, ValueError):
            print(f"convviz: {_one_line(err)}", file=sys.stderr)
            return 2
        print(f"convviz: {type(err).__name__}: {_one_line(err)} (set CONVVIZ_DEBUG=1 for the "
              "traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
