"""Pixels from arrays: normalization, colormap lookup tables, channel mosaics and PNG encoding.

Pure numpy functions (plus Pillow for PNG); the widgets and the exports call the same code, so
live and saved pictures are identical.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image

NORMALIZATIONS = ("channel", "layer", "symmetric")
ORDERS = ("index", "mean", "max")
COLORMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray", "RdBu_r", "coolwarm",
             "jet", "turbo")
SEPARATOR_COLOR = (255, 255, 255)
SEPARATOR_INDEX = 255  # palette slot of the separator; colormap levels use 0–254


@lru_cache(maxsize=32)
def colormap_lut(name: str) -> np.ndarray:
    """A matplotlib colormap as a ``(256, 3)`` uint8 lookup table (cached).

    Raises
    ------
    ValueError
        For an unknown colormap name, listing the suggested ones.
    """
    import matplotlib  # deferred: only needed once per colormap

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"unknown colormap {name!r}; try one of {', '.join(COLORMAPS)} or any matplotlib name."
        ) from None
    lut = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def apply_colormap(values: np.ndarray, name: str) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB through the colormap's lookup table."""
    index = (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return colormap_lut(name)[index]


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel minimum, maximum and mean of a layer's maps: all that scaling, ordering and
    dead-channel counts need, computed in one place so a view change never rescans the maps."""

    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray

    @classmethod
    def of(cls, maps: np.ndarray) -> ChannelStats:
        """Statistics of maps ``(H, W, C)``."""
        flat = maps.reshape(-1, maps.shape[-1])
        return cls(low=reduce_rows(flat, np.minimum), high=reduce_rows(flat, np.maximum),
                   mean=flat.mean(axis=0, dtype=np.float64))

    @property
    def dead(self) -> np.ndarray:
        """Channels that are constant over the whole map."""
        return self.high == self.low


def reduce_rows(values: np.ndarray, combine: np.ufunc) -> np.ndarray:
    """``combine.reduce(values, axis=0)`` for an ``(N, C)`` array, by halving.

    Each step combines two contiguous halves elementwise, which numpy vectorizes; for the tall
    arrays of a layer's pixels × channels this is about five times faster than
    ``values.min(axis=0)``, which walks one column of the row-major array at a time.

    Examples
    --------
    >>> values = np.arange(15.0).reshape(5, 3)[::-1]
    >>> reduce_rows(values, np.minimum).tolist(), reduce_rows(values, np.maximum).tolist()
    ([0.0, 1.0, 2.0], [12.0, 13.0, 14.0])
    """
    if values.shape[0] == 0:
        raise ValueError("cannot reduce an empty array.")
    while values.shape[0] > 1:
        half = values.shape[0] // 2
        combined = combine(values[:half], values[half : 2 * half])
        if values.shape[0] % 2:
            combined[0] = combine(combined[0], values[-1])
        values = combined
    return np.array(values[0])


def _stats(maps: np.ndarray | ChannelStats) -> ChannelStats:
    return maps if isinstance(maps, ChannelStats) else ChannelStats.of(maps)


def dead_channels(maps: np.ndarray | ChannelStats) -> np.ndarray:
    """Boolean mask of channels that are constant over the whole map (``maps`` is (H, W, C))."""
    return _stats(maps).dead


@dataclass(frozen=True)
class Scaling:
    """Per-channel affine map of values to [0, 1]; channels with no range get ``fill``."""

    gain: np.ndarray
    bias: np.ndarray

    def __call__(self, values: np.ndarray, channels: Sequence[int] | np.ndarray) -> np.ndarray:
        """Scale ``values`` (..., k) whose last axis holds the given ``channels``."""
        index = np.asarray(channels)
        return values * self.gain[index] + self.bias[index]


def scaling(maps: np.ndarray | ChannelStats, mode: str = "channel") -> Scaling:
    """Normalization of a layer's maps ``(H, W, C)`` to [0, 1].

    Parameters
    ----------
    maps : numpy.ndarray or ChannelStats
        The whole layer (or its statistics), so that every page of channels is scaled alike.
    mode : {"channel", "layer", "symmetric"}
        ``"channel"``: each channel's own min–max; ``"layer"``: the layer's min–max, so channels
        compare; ``"symmetric"``: zero maps to 0.5 and ±(largest magnitude in the layer) to 0
        and 1, for diverging colormaps and negative activations. Where the range is empty
        (a dead channel in ``"channel"`` mode, an all-zero layer) values map to 0 (0.5 when
        symmetric) rather than dividing by zero.

    Examples
    --------
    >>> maps = np.stack([np.arange(4.0).reshape(2, 2), np.full((2, 2), 7.0)], axis=-1)
    >>> scaled = scaling(maps, "channel")(maps, [0, 1])
    >>> scaled[..., 0].round(2).tolist(), scaled[..., 1].tolist()
    ([[0.0, 0.33], [0.67, 1.0]], [[0.0, 0.0], [0.0, 0.0]])
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {mode!r}; use one of {', '.join(NORMALIZATIONS)}.")
    stats = _stats(maps)
    channels = stats.low.size
    low, high = stats.low.astype(np.float64), stats.high.astype(np.float64)
    fill = 0.0
    if mode == "layer":
        low, high = np.full(channels, low.min()), np.full(channels, high.max())
    elif mode == "symmetric":
        bound = max(abs(low.min()), abs(high.max()))
        low, high, fill = np.full(channels, -bound), np.full(channels, bound), 0.5
    span = high - low
    gain = np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)
    bias = np.where(span > 0, -low * gain, fill)
    return Scaling(gain=gain.astype(np.float32), bias=bias.astype(np.float32))


def order_channels(maps: np.ndarray | ChannelStats, order: str = "index") -> np.ndarray:
    """Channel indices sorted by ``order``: ``"index"``, or descending ``"mean"`` or ``"max"``."""
    if order not in ORDERS:
        raise ValueError(f"unknown channel order {order!r}; use one of {', '.join(ORDERS)}.")
    stats = _stats(maps)
    if order == "index":
        return np.arange(stats.low.size)
    return np.argsort(-(stats.mean if order == "mean" else stats.high), kind="stable")


def _as_slice(channels: np.ndarray) -> slice | None:
    """The channels as a slice when they are consecutive and ascending (views, no copies).

    Examples
    --------
    >>> _as_slice(np.array([2, 3, 4])), _as_slice(np.array([5])), _as_slice(np.array([4, 3]))
    (slice(2, 5, None), slice(5, 6, None), None)
    """
    if channels.size and (channels.size == 1 or (np.diff(channels) == 1).all()):
        return slice(int(channels[0]), int(channels[-1]) + 1)
    return None


def fit_maps(maps: np.ndarray, tile: int, channels: Sequence[int] | np.ndarray | None = None
             ) -> np.ndarray:
    """Resize maps ``(H, W, C)`` so the longer side is exactly ``tile`` pixels.

    A side at least twice as long as its fitted length is first box-averaged by the integer
    factor between them (so fine detail is averaged, not aliased); the rest of the way is
    nearest-neighbour sampling, which keeps each feature-map pixel a crisp block when enlarging.
    Each side keeps at least one pixel. ``channels`` picks channels, in that order.

    Examples
    --------
    >>> fit_maps(np.ones((4, 6, 2)), 3).shape, fit_maps(np.ones((1, 40, 2)), 8).shape
    ((2, 3, 2), (1, 8, 2))
    """
    picked = np.arange(maps.shape[-1]) if channels is None else np.asarray(channels, np.intp)
    run = _as_slice(picked)
    source = maps[..., run] if run is not None else np.take(maps, picked, axis=2)
    height, width = maps.shape[:2]
    longest = max(height, width)
    out_h = max(1, round(height * tile / longest))
    out_w = max(1, round(width * tile / longest))
    factor_y, factor_x = max(1, height // out_h), max(1, width // out_w)
    if factor_y >= 2 or factor_x >= 2:
        h, w = height // factor_y, width // factor_x
        reduced = np.zeros((h, w, picked.size), np.float32)
        for dy in range(factor_y):
            for dx in range(factor_x):
                reduced += source[dy : h * factor_y : factor_y, dx : w * factor_x : factor_x]
        reduced *= 1.0 / (factor_y * factor_x)
        source = reduced
    rows = np.arange(out_h) * source.shape[0] // out_h
    cols = np.arange(out_w) * source.shape[1] // out_w
    return source[rows][:, cols]


@lru_cache(maxsize=32)
def grid_palette(cmap: str, separator: tuple[int, int, int] = SEPARATOR_COLOR) -> np.ndarray:
    """A 256-entry palette: 255 colormap levels (indices 0–254) and the separator (255)."""
    lut = colormap_lut(cmap)[np.linspace(0, 255, SEPARATOR_INDEX).round().astype(int)]
    palette = np.vstack([lut, np.array(separator, np.uint8)[None]])
    palette.setflags(write=False)
    return palette


def quantize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to palette indices 0–254 (uint8)."""
    scaled = np.multiply(values, SEPARATOR_INDEX - 1, dtype=np.float32)
    np.clip(scaled, 0.0, SEPARATOR_INDEX - 1, out=scaled)
    scaled += 0.5
    return scaled.astype(np.uint8)


@dataclass(frozen=True)
class ChannelGrid:
    """A mosaic of channels as palette indices, and the geometry to map a click to a channel."""

    indices: np.ndarray = field(repr=False)
    palette: np.ndarray = field(repr=False)
    channels: tuple[int, ...]
    columns: int
    tile_shape: tuple[int, int]
    gap: int

    @property
    def rgb(self) -> np.ndarray:
        """The mosaic as uint8 RGB ``(H, W, 3)``."""
        return self.palette[self.indices]

    def to_png(self) -> bytes:
        """Encode as an indexed PNG (one byte per pixel: fast to encode, small to send)."""
        return encode_indexed_png(self.indices, self.palette)

    def boxes(self) -> np.ndarray:
        """Where each tile is drawn: ``(len(channels), 4)`` rows of (left, top, right, bottom)
        in pixels of the mosaic, in the order of :attr:`channels`."""
        return tile_boxes(len(self.channels), self.columns, self.tile_shape, self.gap)

    def channel_at(self, x: float, y: float) -> int | None:
        """The channel drawn at pixel ``(x, y)`` of the mosaic, or ``None`` on a separator."""
        if x < 0 or y < 0:
            return None
        tile_h, tile_w = self.tile_shape
        col, dx = divmod(int(x), tile_w + self.gap)
        row, dy = divmod(int(y), tile_h + self.gap)
        if dx >= tile_w or dy >= tile_h or col >= self.columns:
            return None
        index = row * self.columns + col
        return self.channels[index] if index < len(self.channels) else None


def tile_boxes(count: int, columns: int, tile_shape: tuple[int, int], gap: int = 1
               ) -> np.ndarray:
    """(left, top, right, bottom) of each of ``count`` tiles laid out by :func:`mosaic`.

    Examples
    --------
    >>> tile_boxes(3, 2, (4, 5)).tolist()
    [[0, 0, 5, 4], [6, 0, 11, 4], [0, 5, 5, 9]]
    """
    tile_h, tile_w = tile_shape
    columns = max(1, min(columns, count))
    rows, cols = np.divmod(np.arange(count), columns)
    left, top = cols * (tile_w + gap), rows * (tile_h + gap)
    return np.stack([left, top, left + tile_w, top + tile_h], axis=1)


def mosaic(tiles: np.ndarray, columns: int, gap: int = 1, fill: int | tuple = SEPARATOR_INDEX
           ) -> np.ndarray:
    """Lay ``tiles`` ``(N, h, w, ...)`` out on a grid of ``columns`` with ``gap``-pixel separators.

    Separators and empty slots are set to ``fill`` (a palette index, or a colour for RGB tiles).
    """
    count, tile_h, tile_w = tiles.shape[:3]
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    shape = (rows * (tile_h + gap) - gap, columns * (tile_w + gap) - gap, *tiles.shape[3:])
    canvas = np.empty(shape, tiles.dtype)
    canvas[:] = fill
    for i in range(count):
        row, col = divmod(i, columns)
        top, left = row * (tile_h + gap), col * (tile_w + gap)
        canvas[top : top + tile_h, left : left + tile_w] = tiles[i]
    return canvas


def render_channel_grid(
    maps: np.ndarray,
    channels: Sequence[int] | np.ndarray,
    *,
    columns: int = 8,
    tile: int = 64,
    cmap: str = "viridis",
    norm: str | Scaling = "channel",
    gap: int = 1,
) -> ChannelGrid:
    """Render the chosen channels of a layer's maps ``(H, W, C)`` as a colour-mapped mosaic.

    Parameters
    ----------
    maps : numpy.ndarray
        The whole layer's activations; normalization statistics come from all of it.
    channels : sequence of int
        Which channels to draw, in order.
    columns : int
        Tiles per row.
    tile : int
        Edge of a tile in pixels (the longer side of the maps; see :func:`fit_maps`).
    cmap : str
        A matplotlib colormap name.
    norm : str or Scaling
        ``"channel"``, ``"layer"``, ``"symmetric"``, or a precomputed :class:`Scaling`.
    gap : int
        Separator width in pixels.

    Examples
    --------
    >>> maps = np.random.default_rng(0).random((16, 16, 4), dtype=np.float32)
    >>> grid = render_channel_grid(maps, [0, 1, 2, 3], columns=2, tile=32)
    >>> grid.rgb.shape, grid.channel_at(40, 5)
    ((65, 65, 3), 1)
    """
    index = np.asarray(channels, dtype=np.intp)
    if index.size == 0:
        raise ValueError("no channels to render; choose at least one channel.")
    scale = norm if isinstance(norm, Scaling) else scaling(maps, norm)
    fitted = fit_maps(maps, tile, index)
    levels = quantize(scale(fitted, index))  # (h, w, k)
    return ChannelGrid(
        indices=mosaic(np.moveaxis(levels, 2, 0), columns, gap),
        palette=grid_palette(cmap),
        channels=tuple(int(c) for c in index),
        columns=max(1, min(columns, len(index))),
        tile_shape=(int(fitted.shape[0]), int(fitted.shape[1])),
        gap=gap,
    )


def encode_png(rgb: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode a uint8 RGB or gray array as PNG; level 1 trades a little size for speed."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG",
                                                    compress_level=compress_level)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_indexed_png(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """Encode palette indices ``(H, W)`` uint8 with a ``(256, 3)`` palette as an indexed PNG.

    Written directly (no filtering, zlib's run-length strategy): feature-map mosaics are made
    of flat runs, and this is about twice as fast as Pillow's encoder at a smaller size.
    """
    height, width = indices.shape
    scanlines = np.zeros((height, width + 1), np.uint8)  # filter byte 0 ("none") per row
    scanlines[:, 1:] = indices
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = compressor.compress(scanlines.tobytes()) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette image
    return b"".join([
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        _png_chunk(b"PLTE", np.ascontiguousarray(palette, np.uint8).tobytes()),
        _png_chunk(b"IDAT", data),
        _png_chunk(b"IEND", b""),
    ])


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a uint8 RGB array (for tests and round trips)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def enlarge(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge an image by an integer factor with pixel repetition."""
    if factor <= 1:
        return rgb
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def heatmap_overlay(rgb: np.ndarray, heat: np.ndarray, cmap: str = "jet",
                    alpha: float = 0.5) -> np.ndarray:
    """Blend a heat map in [0, 1] ``(H, W)``, colour-mapped, over a uint8 image ``(H, W, 3)``.

    ``out = (1 - alpha) * image + alpha * colormap(heat)``, as in the Grad-CAM tutorials.
    """
    if rgb.shape[:2] != heat.shape:
        raise ValueError(f"heat map {heat.shape} and image {rgb.shape[:2]} differ in size.")
    colored = apply_colormap(heat, cmap).astype(np.float32)
    blended = (1.0 - alpha) * rgb.astype(np.float32) + alpha * colored
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def deprocess_image(x: np.ndarray) -> np.ndarray:
    """Seed S2's ``deprocess_image``: centre, scale to std 0.1, shift to 0.5, clip, × 255, uint8.

    Chollet's function (*Deep Learning with Python* §5.4; float32, truncation to uint8
    included), applied to each image ``(H, W, C)`` of a batch ``(..., H, W, C)`` separately; an
    array of fewer than 3 axes (a single map) is treated as one image.
    """
    x = np.array(x, dtype=np.float32)
    axes = (-3, -2, -1) if x.ndim >= 3 else None
    x -= x.mean(axis=axes, keepdims=True)
    x /= x.std(axis=axes, keepdims=True) + 1e-5
    x *= 0.1
    x += 0.5
    x = np.clip(x, 0, 1)
    x *= 255
    return np.clip(x, 0, 255).astype("uint8")
