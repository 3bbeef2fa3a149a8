"""Raw conv kernels as tiles: exact values on fixed-weight kernels, layouts and clear errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets.engine.kernels import (
    conv_kernel,
    kernel_channel_grid,
    kernel_mosaic,
    kernel_tiles,
)
from convviz_widgets.engine.layers import discover_layers

from tiny_models import DEEP_KERNEL, RGB_KERNEL, kernel_model


@pytest.fixture(scope="module")
def model():
    return kernel_model()


def test_rgb_tiles_share_the_layers_min_max_as_in_s3(model):
    tiles = kernel_tiles(model.get_layer("rgb_conv"))
    assert tiles.mode == "rgb" and tiles.values.shape == (2, 2, 2, 3)
    # RGB_KERNEL spans -8 … 15: tile = (w + 8) / 23; filter 0's top-left RGB is (-8, -6, -4).
    np.testing.assert_allclose(tiles.values[0, 0, 0], np.array([0, 2, 4]) / 23, atol=1e-6)
    np.testing.assert_allclose(tiles.values[1, 1, 1], (RGB_KERNEL[1, 1, :, 1] + 8) / 23,
                               atol=1e-6)
    assert tiles.values[1, 1, 1, 2] == pytest.approx(1.0)  # the largest weight, 15


def test_per_filter_scaling_stretches_each_filter_alone(model):
    tiles = kernel_tiles(model.get_layer("rgb_conv"), [1], scale="filter")
    # Filter 1 holds -7, -5, …, 15: tile = (w + 7) / 22.
    np.testing.assert_allclose(tiles.values[0], (RGB_KERNEL[..., 1] + 7) / 22, atol=1e-6)
    assert tiles.filters == (1,)


def test_symmetric_scaling_puts_zero_at_one_half(model):
    tiles = kernel_tiles(model.get_layer("rgb_conv"), [0], scale="symmetric")
    # Largest magnitude 15: tile = (w + 15) / 30.
    np.testing.assert_allclose(tiles.values[0, 0, 0], np.array([7, 9, 11]) / 30, atol=1e-6)


def test_norm_tiles_are_the_l2_norm_over_input_channels(model):
    layer = model.get_layer("deep_conv")
    tiles = kernel_tiles(layer)  # 2 inputs: "auto" aggregates
    assert tiles.mode == "norm"
    # Norms [[5, 0], [1, 2]] and [[10, 1], [0, 5]]; the layer's range is 0 … 10.
    np.testing.assert_allclose(tiles.values, [[[0.5, 0.0], [0.1, 0.2]], [[1.0, 0.1], [0.0, 0.5]]],
                               atol=1e-6)
    per_filter = kernel_tiles(layer, [0], mode="norm", scale="filter")
    np.testing.assert_allclose(per_filter.values[0], [[1.0, 0.0], [0.2, 0.4]], atol=1e-6)


def test_channel_tiles_show_each_input_slice_on_the_layer_scale(model):
    tiles = kernel_tiles(model.get_layer("deep_conv"), [1, 0], mode="channels", inputs=[1])
    assert tiles.values.shape == (2, 1, 2, 2) and tiles.inputs == (1,)
    # DEEP_KERNEL spans -3 … 8: tile = (w + 3) / 11; filter 1, input 1 is [[8, 1], [0, 4]].
    np.testing.assert_allclose(tiles.values[0, 0], np.array([[11, 4], [3, 7]]) / 11, atol=1e-6)
    np.testing.assert_allclose(tiles.values[1, 0], (DEEP_KERNEL[:, :, 1, 0] + 3) / 11, atol=1e-6)


def test_filter_scaling_of_some_inputs_uses_the_whole_filter(model):
    tiles = kernel_tiles(model.get_layer("deep_conv"), [0], mode="channels", inputs=[0],
                         scale="filter")
    # Filter 0 spans -2 … 4 over both inputs; input 0 is [[3, 0], [1, 0]].
    np.testing.assert_allclose(tiles.values[0, 0], np.array([[5, 2], [3, 2]]) / 6, atol=1e-6)


def test_s3_grid_puts_filters_in_rows_and_input_channels_in_columns(model):
    grid = kernel_channel_grid(model.get_layer("rgb_conv"), count=6, zoom=2)
    # 2 filters (all there are) × 3 inputs, 2×2 kernels enlarged to 4×4, 1-pixel white gaps.
    assert grid.shape == (2 * 4 + 1, 3 * 4 + 2, 3) and grid.dtype == np.uint8
    assert (grid[4] == 255).all() and (grid[:, [4, 9]] == 255).all()
    # Filter 0, input 0, top-left weight -8 is the layer minimum: black in "gray".
    assert (grid[0:2, 0:2] == 0).all()
    # Filter 1, input 2, bottom-right weight 15 is the maximum: white.
    assert (grid[7:9, 12:14] == 255).all()


def test_rgb_mosaic_keeps_colours_exactly(model):
    tiles = kernel_tiles(model.get_layer("rgb_conv"))
    picture = kernel_mosaic(tiles, columns=2, zoom=3, gap=2)
    assert picture.shape == (6, 6 + 2 + 6, 3)  # two 2×2 kernels ×3, a 2-pixel gap
    expected = (tiles.values[1, 0, 1] * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(picture[0, 8 + 3], expected)  # filter 1, kernel column 1


def test_layer_info_is_accepted(model):
    info = next(i for i in discover_layers(model) if i.path == "rgb_conv")
    np.testing.assert_array_equal(conv_kernel(info), RGB_KERNEL)


@pytest.mark.parametrize("make", [
    lambda: keras.layers.Dense(3),
    lambda: keras.layers.DepthwiseConv2D(3),
    lambda: keras.layers.SeparableConv2D(2, 3),
    lambda: keras.layers.Conv2DTranspose(2, 3),
], ids=["Dense", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"])
def test_other_layers_raise_a_clear_error(make):
    layer = make()  # a new layer each run: a built layer cannot be built again
    layer.build((None, 8, 8, 3) if not isinstance(layer, keras.layers.Dense) else (None, 4))
    with pytest.raises(ValueError, match="not a Conv2D layer; choose a standard"):
        kernel_tiles(layer)


def test_rgb_needs_three_input_channels_and_indices_in_range(model):
    with pytest.raises(ValueError, match="use mode='channels' or mode='norm'"):
        kernel_tiles(model.get_layer("deep_conv"), mode="rgb")
    with pytest.raises(ValueError, match="filter index 2 is out of range"):
        kernel_tiles(model.get_layer("rgb_conv"), [0, 2])
    with pytest.raises(ValueError, match="unknown kernel scale"):
        kernel_tiles(model.get_layer("rgb_conv"), scale="channel")
