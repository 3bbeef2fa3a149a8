"""Raw convolution kernels as displayable tiles: RGB composites, per-input-channel, or aggregated.

What the filters of a conv layer *are*, as opposed to what they respond to (see
:mod:`convviz_widgets.engine.featvis`). First-layer kernels of an RGB model read as small colour
pictures (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet Classification with Deep
Convolutional Neural Networks", Fig. 3); deeper kernels have one slice per input channel, shown
one tile per channel (the grid of the Machine Learning Mastery VGG16 tutorial, seed S3) or
aggregated by their L2 norm over input channels (how strongly each position of the filter's
window weighs its input, whatever the channel).

All tile values are float32 in [0, 1]; :func:`kernel_mosaic` turns them into uint8 pictures with
the same mosaic and colormap code as the activation views (:mod:`.render`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .layers import LayerInfo
from .render import SEPARATOR_COLOR, apply_colormap, mosaic

MODES = ("auto", "rgb", "channels", "norm")
SCALES = ("layer", "filter", "symmetric")


def conv_kernel(layer: Any) -> np.ndarray:
    """The kernel ``(kh, kw, inputs, filters)`` of a ``Conv2D`` layer as a float32 array.

    Parameters
    ----------
    layer : keras.layers.Layer or LayerInfo
        A built 2-D convolution layer.

    Raises
    ------
    ValueError
        For any other layer (Dense, pooling, depthwise, separable or transposed convolutions).
    """
    import keras

    if isinstance(layer, LayerInfo):
        layer = layer.layer
    name = getattr(layer, "name", type(layer).__name__)
    # Depthwise, separable and transposed convolutions are not Conv2D subclasses in Keras 3, and
    # their kernels are laid out differently (per channel, two factors, or inputs and outputs
    # swapped), so a tile would not mean "one filter over its inputs".
    if not isinstance(layer, keras.layers.Conv2D):
        raise ValueError(
            f"layer {name!r} is a {type(layer).__name__}, not a Conv2D layer; choose a standard "
            "2-D convolution layer (depthwise, separable, transposed and dense kernels are not "
            "shown as tiles)."
        )
    if not layer.built:
        raise ValueError(f"layer {name!r} has no weights yet; build the model by calling it once.")
    kernel = np.asarray(layer.kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise ValueError(
            f"layer {name!r} has a kernel of shape {kernel.shape}, not (height, width, inputs, "
            "filters); choose a standard 2-D convolution layer."
        )
    return kernel


@dataclass(frozen=True)
class KernelTiles:
    """Kernels of some filters of a layer as values in [0, 1], ready to colour and lay out.

    Attributes
    ----------
    values : numpy.ndarray
        float32 in [0, 1]: ``(F, kh, kw, 3)`` for ``"rgb"``, ``(F, kh, kw)`` for ``"norm"``,
        ``(F, I, kh, kw)`` for ``"channels"`` (``I`` input channels per filter).
    filters : tuple of int
        The filter index of each tile, in order.
    inputs : tuple of int
        The input channels shown (all of them for ``"rgb"`` and ``"norm"``).
    mode : str
        ``"rgb"``, ``"channels"`` or ``"norm"``.
    scale : str
        ``"layer"``, ``"filter"`` or ``"symmetric"``.
    """

    values: np.ndarray
    filters: tuple[int, ...]
    inputs: tuple[int, ...]
    mode: str
    scale: str


def _scale(values: np.ndarray, statistics: np.ndarray, scale: str) -> np.ndarray:
    """Map ``values`` (F, ...) to [0, 1] with the range of ``statistics``.

    ``statistics`` is the whole layer for ``"layer"`` and ``"symmetric"`` (so a page of filters
    is scaled as it would be within the layer), and the shown filters' full values (F, ...) for
    ``"filter"`` (so a subset of input channels is scaled as within its whole filter).
    """
    count = values.shape[0]
    if scale == "filter":
        flat = statistics.reshape(count, -1)
        low, high, fill = flat.min(axis=1), flat.max(axis=1), 0.0
    elif scale == "layer":
        low, high, fill = np.full(count, statistics.min()), np.full(count, statistics.max()), 0.0
    else:
        bound = np.abs(statistics).max()
        low, high, fill = np.full(count, -bound), np.full(count, bound), 0.5
    shape = (count,) + (1,) * (values.ndim - 1)
    low = low.reshape(shape).astype(np.float64)
    span = high.reshape(shape).astype(np.float64) - low
    # An all-equal filter (or layer) has no range to stretch: show it flat rather than divide by 0.
    scaled = np.divide(values - low, span, out=np.full(values.shape, fill), where=span > 0)
    return np.clip(scaled, 0.0, 1.0).astype(np.float32)


def _pick(count: int, indices: Sequence[int] | None, what: str) -> np.ndarray:
    picked = np.arange(count) if indices is None else np.asarray(list(indices), dtype=np.intp)
    if picked.size == 0:
        raise ValueError(f"no {what} chosen; give at least one {what[:-1]} index.")
    bad = picked[(picked < 0) | (picked >= count)]
    if bad.size:
        raise ValueError(f"{what[:-1]} index {int(bad[0])} is out of range: the layer has "
                         f"{count} {what} (0 to {count - 1}).")
    return picked


def kernel_tiles(
    layer: Any,
    filters: Sequence[int] | None = None,
    *,
    mode: str = "auto",
    scale: str = "layer",
    inputs: Sequence[int] | None = None,
    kernel: np.ndarray | None = None,
) -> KernelTiles:
    """Tiles of a conv layer's kernels, one per filter (or per filter and input channel).

    Parameters
    ----------
    layer : keras.layers.Conv2D or LayerInfo
        The layer whose weights to show.
    filters : sequence of int, optional
        Which filters, in order (default: all).
    mode : {"auto", "rgb", "channels", "norm"}
        ``"rgb"``: a filter over 3 input channels as one colour tile (first layers of RGB
        models); ``"channels"``: one grayscale tile per input channel (seed S3's grid);
        ``"norm"``: one tile per filter, the L2 norm of the weights over input channels at each
        kernel position. ``"auto"`` is ``"rgb"`` for 3 inputs, ``"channels"`` for 1, else
        ``"norm"``.
    scale : {"layer", "filter", "symmetric"}
        ``"layer"``: min–max over all of the layer's values (S3: tiles compare across filters);
        ``"filter"``: each filter's own min–max (detail of weak filters); ``"symmetric"``: zero
        at 0.5 and ±(largest magnitude in the layer) at 0 and 1, for diverging colormaps.
    inputs : sequence of int, optional
        Input channels shown in ``"channels"`` mode (default: all).
    kernel : numpy.ndarray, optional
        Values to show instead of the layer's current kernel, ``(kh, kw, inputs, filters)``
        (the kernel recorded at an epoch of a training timeline, say).

    Returns
    -------
    KernelTiles

    Raises
    ------
    ValueError
        For a layer that is not a ``Conv2D``, ``"rgb"`` on a layer without 3 input channels,
        unknown modes or scales, and out-of-range indices.

    Examples
    --------
    >>> import keras
    >>> conv = keras.layers.Conv2D(4, 3)
    >>> conv.build((None, 8, 8, 3))
    >>> kernel_tiles(conv).values.shape
    (4, 3, 3, 3)
    >>> kernel_tiles(conv, [0, 1], mode="channels").values.shape
    (2, 3, 3, 3)
    """
    if mode not in MODES:
        raise ValueError(f"unknown kernel mode {mode!r}; use one of {', '.join(MODES)}.")
    if scale not in SCALES:
        raise ValueError(f"unknown kernel scale {scale!r}; use one of {', '.join(SCALES)}.")
    current = conv_kernel(layer)  # (kh, kw, I, F)
    if kernel is None:
        kernel = current
    elif np.shape(kernel) != current.shape:
        raise ValueError(f"the kernel given has shape {np.shape(kernel)}, not the layer's "
                         f"{current.shape}.")
    kernel = np.asarray(kernel, np.float32)
    in_channels, out_channels = kernel.shape[2], kernel.shape[3]
    if mode == "auto":
        mode = {3: "rgb", 1: "channels"}.get(in_channels, "norm")
    if mode == "rgb" and in_channels != 3:
        raise ValueError(
            f"the layer's filters have {in_channels} input channels, not 3, so they are not "
            "colour pictures; use mode='channels' or mode='norm'."
        )
    picked = _pick(out_channels, filters, "filters")
    by_filter = np.moveaxis(kernel, 3, 0)  # (F, kh, kw, I)
    shown_inputs = np.arange(in_channels)
    if mode == "norm":
        # The whole layer's norms, so that "layer" scaling does not depend on the page shown.
        shown = np.sqrt(np.square(by_filter.astype(np.float64)).sum(axis=-1))
        values = shown[picked]
    elif mode == "channels":
        shown_inputs = _pick(in_channels, inputs, "input channels")
        shown = by_filter
        values = np.moveaxis(by_filter[picked][..., shown_inputs], 3, 1)  # (F, I, kh, kw)
    else:
        shown = by_filter
        values = by_filter[picked]
    statistics = shown if scale != "filter" else shown[picked]
    return KernelTiles(
        values=_scale(values, statistics, scale),
        filters=tuple(int(f) for f in picked),
        inputs=tuple(int(i) for i in shown_inputs),
        mode=mode,
        scale=scale,
    )


def kernel_mosaic(
    tiles: KernelTiles,
    *,
    columns: int | None = None,
    zoom: int = 8,
    cmap: str = "gray",
    gap: int = 1,
) -> np.ndarray:
    """Lay kernel tiles out as one uint8 RGB picture ``(H, W, 3)``.

    Each kernel pixel becomes a ``zoom``×``zoom`` block (kernels are 3×3: without enlarging they
    are unreadable). RGB tiles keep their colours; grayscale tiles go through ``cmap``. In
    ``"channels"`` mode each row is one filter and each column one input channel (seed S3's
    figure); otherwise tiles fill ``columns`` per row (default 8).
    """
    values = tiles.values
    if tiles.mode == "channels":
        columns = values.shape[1]
        values = values.reshape(-1, *values.shape[2:])
    rgb = (values * 255.0 + 0.5).astype(np.uint8) if tiles.mode == "rgb" else apply_colormap(
        values, cmap)
    big = np.repeat(np.repeat(rgb, max(1, zoom), axis=1), max(1, zoom), axis=2)
    return mosaic(big, columns or 8, gap=gap, fill=SEPARATOR_COLOR)


def kernel_channel_grid(
    layer: Any, count: int = 6, *, zoom: int = 8, cmap: str = "gray"
) -> np.ndarray:
    """Seed S3's figure: the first ``count`` filters (rows) × each input channel (columns).

    Weights are min–max normalized over the whole layer, so dark is small or inhibitory and light
    is large or excitatory, as in the tutorial.
    """
    kernel = conv_kernel(layer)
    tiles = kernel_tiles(layer, range(min(count, kernel.shape[3])), mode="channels",
                         scale="layer")
    return kernel_mosaic(tiles, zoom=zoom, cmap=cmap)
