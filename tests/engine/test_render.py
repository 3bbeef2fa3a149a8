"""Rendering: exact normalizations, dead channels, geometry, colormaps and PNG round trips."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from convviz_widgets.engine import render


def layer_of(*channels: list[list[float]]) -> np.ndarray:
    return np.stack([np.asarray(c, np.float32) for c in channels], axis=-1)


MAPS = layer_of([[0, 1], [2, 4]], [[5, 5], [5, 5]], [[-2, 0], [0, 2]])


def test_channel_normalization_uses_each_channels_range_and_zero_for_dead():
    scaled = render.scaling(MAPS, "channel")(MAPS, [0, 1, 2])
    np.testing.assert_allclose(scaled[..., 0], [[0, 0.25], [0.5, 1]])
    np.testing.assert_array_equal(scaled[..., 1], 0.0)
    np.testing.assert_allclose(scaled[..., 2], [[0, 0.5], [0.5, 1]])


def test_layer_normalization_shares_one_range():
    scaled = render.scaling(MAPS, "layer")(MAPS, [0, 1, 2])  # range [-2, 5]
    np.testing.assert_allclose(scaled[0, 0], [2 / 7, 1.0, 0.0])


def test_symmetric_normalization_puts_zero_at_the_middle():
    scaled = render.scaling(MAPS, "symmetric")(MAPS, [0, 1, 2])  # bound 5
    np.testing.assert_allclose(scaled[..., 2], [[0.3, 0.5], [0.5, 0.7]])
    zeros = np.zeros((2, 2, 3), np.float32)
    np.testing.assert_array_equal(render.scaling(zeros, "symmetric")(zeros, [0, 1, 2]), 0.5)


def test_dead_channels_are_counted_and_render_without_nan():
    assert render.dead_channels(MAPS).tolist() == [False, True, False]
    grid = render.render_channel_grid(MAPS, [0, 1, 2], columns=3, tile=2)
    assert np.isfinite(grid.rgb).all()
    lut = render.grid_palette("viridis")
    np.testing.assert_array_equal(grid.rgb[0, 3], lut[0])  # the dead tile gets the lowest colour


def numbered(channels: int, height: int = 3, width: int = 5) -> np.ndarray:
    """Maps ``(height, width, channels)`` where channel c is the constant c."""
    return np.broadcast_to(np.arange(channels, dtype=np.float32), (height, width, channels)).copy()


def test_grid_geometry_and_click_mapping():
    grid = render.render_channel_grid(numbered(7), [6, 5, 4, 3, 2], columns=2, tile=10, gap=1)
    assert grid.tile_shape == (6, 10)  # 3×5 maps → 6×10 tiles by repetition ×2
    assert grid.indices.shape == (3 * 6 + 2, 2 * 10 + 1)
    assert grid.channel_at(0, 0) == 6 and grid.channel_at(11, 0) == 5
    assert grid.channel_at(10, 0) is None  # the separator column
    assert grid.channel_at(0, 6) is None  # the separator row
    assert grid.channel_at(0, 7) == 4 and grid.channel_at(20, 12) == 3
    assert grid.channel_at(21, 0) is None and grid.channel_at(-1, 0) is None  # off the grid
    assert grid.channel_at(0, 14) == 2 and grid.channel_at(11, 14) is None  # the empty slot
    np.testing.assert_array_equal(grid.rgb[:, 10], 255)  # separators are white
    np.testing.assert_array_equal(grid.rgb[6], 255)
    np.testing.assert_array_equal(grid.rgb[14:, 11:], 255)  # so is the empty slot


@pytest.mark.parametrize("channels", [[6, 5, 4, 3, 2], [2, 6, 0, 5], [0, 1, 2, 3, 4, 5, 6]])
def test_each_tile_shows_the_channel_the_grid_says_is_there(channels):
    """Channel c is the constant c; over the layer's range [0, 6] it is gray level 255 c / 6."""
    grid = render.render_channel_grid(numbered(7), channels, columns=3, tile=10, cmap="gray",
                                      norm="layer")
    assert grid.channels == tuple(channels)
    for position, channel in enumerate(channels):
        row, col = divmod(position, 3)
        top, left = row * 7, col * 11
        tile = grid.rgb[top : top + 6, left : left + 10].astype(int)
        np.testing.assert_allclose(tile, round(255 * channel / 6), atol=1)
        assert grid.channel_at(left + 5, top + 3) == channel


def test_fit_maps_box_averages_large_maps_and_repeats_small_ones():
    maps = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    np.testing.assert_array_equal(render.fit_maps(maps, 2)[..., 0], [[2.5, 4.5], [10.5, 12.5]])
    enlarged = render.fit_maps(maps, 8)[..., 0]
    np.testing.assert_array_equal(enlarged, np.repeat(np.repeat(maps[..., 0], 2, 0), 2, 1))
    assert render.fit_maps(maps, 9).shape == (9, 9, 1)
    wide = np.zeros((6, 12, 3), np.float32)
    assert render.fit_maps(wide, 4, channels=[2, 0]).shape == (2, 4, 2)


def test_colormap_lut_matches_matplotlib():
    lut = render.colormap_lut("magma")
    expected = matplotlib.colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255
    assert np.abs(lut.astype(float) - expected).max() <= 0.5
    with pytest.raises(ValueError, match="unknown colormap"):
        render.colormap_lut("not-a-cmap")


def test_indexed_png_round_trips_exactly():
    maps = np.random.default_rng(0).random((6, 6, 4), dtype=np.float32)
    grid = render.render_channel_grid(maps, range(4), columns=2, tile=12, cmap="gray")
    np.testing.assert_array_equal(render.decode_png(grid.to_png()), grid.rgb)


def test_channel_orders():
    assert render.order_channels(MAPS, "index").tolist() == [0, 1, 2]
    assert render.order_channels(MAPS, "mean").tolist() == [1, 0, 2]
    assert render.order_channels(MAPS, "max").tolist() == [1, 0, 2]
    with pytest.raises(ValueError, match="unknown channel order"):
        render.order_channels(MAPS, "size")


@pytest.mark.parametrize("rows", [1, 2, 3, 7, 64, 1001])
def test_reducing_rows_by_halving_equals_numpys_reduction(rows):
    from convviz_widgets.engine.render import reduce_rows

    values = np.random.default_rng(rows).normal(size=(rows, 5)).astype(np.float32)
    np.testing.assert_array_equal(reduce_rows(values, np.minimum), values.min(axis=0))
    np.testing.assert_array_equal(reduce_rows(values, np.maximum), values.max(axis=0))
    values[rows // 2, 3] = np.nan  # NaN propagates, as in values.max(axis=0)
    assert np.isnan(reduce_rows(values, np.maximum)[3])
