"""The ``convviz`` command: list a model's layers and render feature-map grids to PNG."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def _load_model(spec: str) -> Any:
    from . import zoo

    if spec in zoo.model_names():
        return zoo.load_model(spec)
    import keras

    return keras.saving.load_model(spec, compile=False)


def _load_image(spec: str) -> Any:
    from . import zoo

    return zoo.load_image(spec) if spec in zoo.image_names() else spec


def _layers(args: argparse.Namespace) -> None:
    from .engine.probe import ActivationProbe

    for info in ActivationProbe(_load_model(args.model)).layers:
        print(info.describe())


def _render(args: argparse.Namespace) -> None:
    from .export import layer_grid, save_grid

    grid = layer_grid(_load_model(args.model), _load_image(args.image), args.layer,
                      columns=args.columns, tile=args.tile, cmap=args.cmap, norm=args.norm)
    print(save_grid(grid, args.out))


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
            lambda model, picture, index=index, method=method: ActivationProbe(model).cam(
                picture, args.layer, index, method).map, probe.model, image, cascade)
        correlations = " ".join(f"{step.rank_correlation:+.2f}" for step in steps[1:])
        print(f"{method:16s} {rate:8.1%} {near:8.1%} {np.mean(deletion):9.3f} "
              f"{np.mean(insertion):9.3f}  {correlations}")


def _precompute(args: argparse.Namespace) -> None:
    """Filter patterns of a layer computed ahead and stored in a folder, for FilterGallery."""
    from .engine.featvis import precompute

    model = _load_model(args.model)
    filters = range(args.first, args.first + args.count)
    patterns = precompute(model, args.layer, filters, args.preset, args.folder,
                          batch_size=args.batch)
    dead = [p.filter for p in patterns if p.dead]
    print(f"{len(patterns)} patterns of {args.layer} ({args.preset}) in {args.folder}"
          + (f"; dead filters: {dead}" if dead else ""))
    print(f"open them with FilterGallery(model, layer={args.layer!r}, "
          f"preset={args.preset!r}, cache=PatternCache({str(args.folder)!r}))")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``convviz``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="convviz", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    layers = commands.add_parser("layers", help="list the layers of a model")
    layers.add_argument("--model", default="shapes", help="bundled model name or .keras file")
    layers.set_defaults(run=_layers)
    render = commands.add_parser("render", help="render a layer's feature maps to a PNG file")
    render.add_argument("--model", default="shapes", help="bundled model name or .keras file")
    render.add_argument("--image", default="star", help="bundled sample name or image file")
    render.add_argument("--layer", default="block1_conv1")
    render.add_argument("--out", default="grid.png")
    render.add_argument("--columns", type=int, default=8)
    render.add_argument("--tile", type=int, default=64)
    render.add_argument("--cmap", default="viridis")
    render.add_argument("--norm", default="channel", choices=("channel", "layer", "symmetric"))
    render.set_defaults(run=_render)
    faithful = commands.add_parser(
        "faithfulness", help="measure every CAM method on two-shape scenes: pointing game, "
                             "deletion/insertion AUC, randomization sanity check")
    faithful.add_argument("--model", default="shapes", help="bundled model name")
    faithful.add_argument("--layer", default="block4_conv2")
    faithful.add_argument("--scenes", type=int, default=40)
    faithful.set_defaults(run=_faithfulness)
    ahead = commands.add_parser(
        "precompute", help="compute a layer's filter patterns ahead and store them in a folder")
    ahead.add_argument("--model", default="shapes", help="bundled model name or .keras file")
    ahead.add_argument("--layer", default="block4_conv2")
    ahead.add_argument("--first", type=int, default=0, help="first filter (default 0)")
    ahead.add_argument("--count", type=int, default=16, help="number of filters (default 16)")
    ahead.add_argument("--preset", default="tutorial", choices=("tutorial", "clean"))
    ahead.add_argument("--batch", type=int, default=None, help="filters per batch (default all)")
    ahead.add_argument("folder", help="where the patterns go (.npz files)")
    ahead.set_defaults(run=_precompute)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except ValueError as err:
        print(f"convviz: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
