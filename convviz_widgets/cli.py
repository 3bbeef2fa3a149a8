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
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except ValueError as err:
        print(f"convviz: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
