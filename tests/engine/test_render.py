"""Rendering: exact normalizations, dead channels, geometry, colormaps and PNG round trips."""

from __future__ import annotations

import struct

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


# -- edges that the tests above do not reach (found by `make mutate`) ------------------------
def test_cached_tables_are_read_only_so_no_caller_can_change_every_later_picture():
    for table in (render.colormap_lut("magma"), render.grid_palette("magma")):
        assert not table.flags.writeable
        with pytest.raises(ValueError):
            table[0] = 0


def test_the_grid_palette_spans_the_colormap_from_its_first_to_its_last_colour():
    lut, palette = render.colormap_lut("viridis"), render.grid_palette("viridis")
    assert palette.shape == (256, 3)
    np.testing.assert_array_equal(palette[0], lut[0])
    np.testing.assert_array_equal(palette[254], lut[255])
    np.testing.assert_array_equal(palette[255], render.SEPARATOR_COLOR)


def test_values_outside_0_1_take_the_end_colours_never_the_separator():
    levels = render.quantize(np.array([-0.5, 0.0, 0.5, 1.0, 1.5], np.float32))
    assert levels.tolist() == [0, 0, 127, 254, 254]
    lut = render.colormap_lut("viridis")
    rgb = render.apply_colormap(np.array([-1.0, 0.0, 1.0, 1.5]), "viridis")
    np.testing.assert_array_equal(rgb, lut[[0, 0, 255, 255]])


def test_symmetric_bound_is_the_largest_magnitude_and_small_ranges_still_scale():
    maps = layer_of([[-1, 0], [0, 4]], [[0, 0.25], [0.5, 0.5]])
    symmetric = render.scaling(maps, "symmetric")(maps, [0, 1])  # bound 4, not 1
    np.testing.assert_allclose(symmetric[..., 0], [[0.375, 0.5], [0.5, 1.0]])
    per_channel = render.scaling(maps, "channel")(maps, [0, 1])  # channel 1 spans only 0.5
    np.testing.assert_allclose(per_channel[..., 1], [[0.0, 0.5], [1.0, 1.0]])


def test_statistics_are_per_channel_whatever_the_map_shape():
    maps = np.random.default_rng(3).normal(size=(2, 3, 5)).astype(np.float32)
    stats = render.ChannelStats.of(maps)
    np.testing.assert_array_equal(stats.low, maps.min(axis=(0, 1)))
    np.testing.assert_array_equal(stats.high, maps.max(axis=(0, 1)))
    np.testing.assert_allclose(stats.mean, maps.mean(axis=(0, 1)), rtol=1e-6)


@pytest.mark.parametrize("rows", [3, 5, 7])
def test_reducing_an_odd_number_of_rows_of_an_even_number_of_channels(rows):
    values = np.random.default_rng(rows).normal(size=(rows, 4))
    values[-1] = [-9, 9, -9, 9]  # the odd row out holds the extremes
    np.testing.assert_array_equal(render.reduce_rows(values, np.minimum), values.min(axis=0))
    np.testing.assert_array_equal(render.reduce_rows(values, np.maximum), values.max(axis=0))
    with pytest.raises(ValueError, match="empty"):
        render.reduce_rows(np.zeros((0, 3)), np.minimum)


def test_fit_maps_keeps_every_channel_and_at_least_one_pixel_a_side():
    maps = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    assert render.fit_maps(maps, 3).shape == (2, 3, 4)
    np.testing.assert_array_equal(render.fit_maps(maps, 3), maps)
    thin = np.ones((1, 40, 2), np.float32)
    assert render.fit_maps(thin, 8).shape == (1, 8, 2)
    assert render.fit_maps(thin.transpose(1, 0, 2), 8).shape == (8, 1, 2)


def test_clicks_left_of_the_grid_or_on_a_gap_or_past_the_last_column_hit_nothing():
    grid = render.render_channel_grid(numbered(6), range(6), columns=3, tile=5, gap=0)
    assert grid.channel_at(-1, 2) is None and grid.channel_at(2, -1) is None
    assert grid.channel_at(14, 2) == 2 and grid.channel_at(15, 2) is None  # past column 3
    gapped = render.render_channel_grid(numbered(6), range(6), columns=3, tile=5, gap=1)
    assert gapped.channel_at(4, 0) == 0 and gapped.channel_at(5, 0) is None  # the gap
    assert gapped.channel_at(0, 2) == 0 and gapped.channel_at(0, 3) is None  # the row gap


def test_one_column_layouts_stack_the_tiles():
    assert render.tile_boxes(3, 1, (2, 4)).tolist() == [[0, 0, 4, 2], [0, 3, 4, 5], [0, 6, 4, 8]]
    assert render.mosaic(np.zeros((3, 2, 4), np.uint8), columns=1).shape == (8, 4)
    grid = render.render_channel_grid(numbered(3), range(3), columns=1, tile=5)
    assert grid.columns == 1 and grid.indices.shape == (3 * 3 + 2, 5)


def test_the_documented_defaults_of_the_picture_functions():
    # render_channel_grid: 8 columns of 64-pixel tiles, 1-pixel gaps; mosaic: 1-pixel gaps.
    grid = render.render_channel_grid(numbered(16, 4, 4), range(16))
    assert grid.columns == 8 and grid.tile_shape == (64, 64) and grid.gap == 1
    assert grid.indices.shape == (2 * 64 + 1, 8 * 64 + 7)
    assert render.mosaic(np.zeros((4, 2, 2), np.uint8), columns=2).shape == (5, 5)
    # heatmap_overlay blends half and half.
    black = np.zeros((1, 2, 3), np.uint8)
    lut = render.colormap_lut("jet").astype(np.float32)
    expected = np.floor(0.5 * lut[[0, 255]] + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(render.heatmap_overlay(black, np.array([[0.0, 1.0]]))[0],
                                  expected)
    # encode_png uses the fastest zlib level.
    picture = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    assert render.encode_png(picture) == render.encode_png(picture, compress_level=1)


def test_enlarging_repeats_pixels_and_factor_one_is_the_image_itself():
    rgb = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    assert render.enlarge(rgb, 1) is rgb
    twice = render.enlarge(rgb, 2)
    assert twice.shape == (4, 4, 3)
    np.testing.assert_array_equal(twice[::2, ::2], rgb)
    np.testing.assert_array_equal(twice[1::2, 1::2], rgb)


def test_indexed_png_header_follows_the_png_specification():
    # PNG spec 11.2.2: bit depth 8, colour type 3 (palette); compression, filter and interlace
    # methods 0 (the only defined compression and filter methods; no interlacing).
    data = render.encode_indexed_png(np.zeros((3, 5), np.uint8), render.grid_palette("gray"))
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">IIBBBBB", data[16:29]) == (5, 3, 8, 3, 0, 0, 0)


def chollet_deprocess(x: np.ndarray) -> np.ndarray:
    """Seed S2's function as printed in Deep Learning with Python, §5.4."""
    x = x.copy()
    x -= x.mean()
    x /= x.std() + 1e-5
    x *= 0.1
    x += 0.5
    x = np.clip(x, 0, 1)
    x *= 255
    return np.clip(x, 0, 255).astype("uint8")


def test_deprocess_image_equals_chollets_function_even_for_a_nearly_flat_image():
    nearly_flat = np.array([[[0.0], [2e-5]], [[0.0], [2e-5]]], np.float32)
    np.testing.assert_array_equal(render.deprocess_image(nearly_flat),
                                  chollet_deprocess(nearly_flat))
    outliers = np.zeros((8, 8, 3), np.float32)
    outliers[0, 0, 0], outliers[7, 7, 2] = 1.0, -1.0  # each about ten standard deviations out
    out = render.deprocess_image(outliers)
    np.testing.assert_array_equal(out, chollet_deprocess(outliers))
    assert out[0, 0, 0] == 255 and out[7, 7, 2] == 0  # clipped to white and black


def test_fit_maps_averages_along_the_one_long_side_of_a_thin_map():
    column = np.arange(4, dtype=np.float32).reshape(4, 1, 1)  # 4 rows: each pair averaged
    np.testing.assert_array_equal(render.fit_maps(column, 2)[..., 0], [[0.5], [2.5]])
    row = column.reshape(1, 4, 1)
    np.testing.assert_array_equal(render.fit_maps(row, 2)[..., 0], [[0.5, 2.5]])


def test_scaling_offsets_ranges_narrower_than_one_and_bounds_by_the_most_negative_value():
    maps = layer_of([[2.0, 2.5], [2.25, 2.5]], [[-5.0, 1.0], [0.0, 1.0]])
    per_channel = render.scaling(maps, "channel")(maps, [0, 1])
    np.testing.assert_allclose(per_channel[..., 0], [[0.0, 1.0], [0.5, 1.0]])
    symmetric = render.scaling(maps, "symmetric")(maps, [0, 1])  # bound 5, from -5
    np.testing.assert_allclose(symmetric[..., 1], [[0.0, 0.6], [0.5, 0.6]])
