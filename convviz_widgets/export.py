"""Static pictures for notebooks, papers and slides, from the render functions of the widgets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .engine.files import write_picture
from .engine.probe import ActivationProbe, shared_probe
from .engine.render import ChannelGrid, render_channel_grid


def layer_grid(
    model: Any,
    image: Any,
    layer: str,
    channels: Sequence[int] | None = None,
    *,
    preprocess: Any = None,
    columns: int = 16,
    tile: int = 48,
    cmap: str = "viridis",
    norm: str = "channel",
) -> ChannelGrid:
    """Render channels of one layer for an image as a mosaic (all channels by default).

    Parameters
    ----------
    model : keras.Model or ActivationProbe
        The model (its shared probe is used, so nothing runs twice) or a probe.
    image : array, PIL image, path or bytes
        The input image.
    layer : str
        Path or name of a spatial layer.
    channels : sequence of int, optional
        Which channels, in order; all by default.

    Examples
    --------
    >>> from convviz_widgets import zoo
    >>> grid = layer_grid(zoo.load_model("shapes"), zoo.load_image("star"), "block1_conv1")
    >>> grid.rgb.shape[-1]
    3
    """
    probe = model if isinstance(model, ActivationProbe) else shared_probe(model, preprocess)
    maps = probe.activations(image, layer)
    picked = range(maps.shape[-1]) if channels is None else channels
    return render_channel_grid(maps, picked, columns=columns, tile=tile, cmap=cmap, norm=norm)


def show_grid(grid: ChannelGrid | np.ndarray, title: str = "", width: float = 10.0) -> Any:
    """A matplotlib figure of a rendered grid (pixels unchanged), with an optional title."""
    from matplotlib import pyplot

    rgb = grid.rgb if isinstance(grid, ChannelGrid) else grid
    height = width * rgb.shape[0] / rgb.shape[1]
    figure, axes = pyplot.subplots(figsize=(width, height + (0.4 if title else 0.0)))
    axes.imshow(rgb, interpolation="nearest")
    axes.set_axis_off()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return figure


def save_grid(grid: ChannelGrid | np.ndarray, path: str | Path) -> Path:
    """Write a rendered grid to ``path`` in the format its suffix names (``.png``, ``.jpg``, …).

    See :func:`convviz_widgets.engine.files.write_picture`: the file is replaced whole (a
    symbolic link at ``path`` is replaced, never written through), and an unknown suffix or a
    missing or read-only folder raises a one-sentence ``ValueError``.
    """
    rgb = grid.rgb if isinstance(grid, ChannelGrid) else grid
    return write_picture(rgb, path)


def cam_overlays(image: np.ndarray, maps: dict[str, np.ndarray], cmap: str = "jet",
                 alpha: float = 0.5) -> dict[str, np.ndarray]:
    """Each map (any resolution, values in [0, 1]) upsampled and blended over ``image``.

    ``image`` is the uint8 picture ``(H, W, 3)`` the maps explain (e.g. ``ImageInput.display``
    resized to the model's size, or ``ImageInput.pixels``); returns uint8 pictures of its size.

    Examples
    --------
    >>> picture = np.zeros((4, 4, 3), np.uint8)
    >>> cam_overlays(picture, {"conv": np.eye(2)})["conv"].shape
    (4, 4, 3)
    """
    from .engine.cam.base import upsample
    from .engine.render import heatmap_overlay

    rgb = np.clip(np.asarray(image, np.float32), 0, 255).astype(np.uint8)
    if rgb.ndim == 2 or rgb.shape[2] == 1:
        rgb = np.repeat(rgb.reshape(rgb.shape[0], rgb.shape[1], 1), 3, axis=2)
    return {name: heatmap_overlay(rgb, upsample(cam, rgb.shape[:2]), cmap, alpha)
            for name, cam in maps.items()}


def show_pictures(pictures: dict[str, np.ndarray], columns: int = 5, width: float = 12.0) -> Any:
    """A matplotlib figure of titled pictures in a grid (pixels unchanged), e.g. a CAM sweep."""
    from matplotlib import pyplot

    rows = max(1, -(-len(pictures) // columns))
    cell = width / columns
    figure, axes = pyplot.subplots(rows, columns, figsize=(width, rows * (cell + 0.3)),
                                   squeeze=False)
    for axis in axes.ravel():
        axis.set_axis_off()
    for axis, (title, picture) in zip(axes.ravel(), pictures.items(), strict=False):
        axis.imshow(picture, interpolation="nearest")
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
