"""Two models of one architecture side by side: one scaling for both, the difference on a
diverging colormap with 0 in the middle, and architectures that differ refused by name."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets import CAMOverlay, LayerBrowser
from convviz_widgets.engine.compare import DIFFERENCE_CMAP
from convviz_widgets.engine.render import colormap_lut, grid_palette

from tiny_models import small_classifier

IMAGE = (np.arange(8 * 8 * 3).reshape(8, 8, 3) * 7 % 256).astype(np.uint8)


def twin(model, scale_channel: int | None = None):
    """A copy of ``model``; with ``scale_channel``, that filter of "conv" doubled."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if scale_channel is not None:
        conv = copy.get_layer("conv")
        kernel, bias = conv.get_weights()
        kernel[..., scale_channel] *= 2.0
        bias[scale_channel] *= 2.0
        conv.set_weights([kernel, bias])
    return copy


def middle_of(cmap: str) -> np.ndarray:
    """The colour a grid shows for 0 under symmetric scaling (the palette's middle level)."""
    return grid_palette(cmap)[127]


def test_identical_models_draw_identical_grids_and_a_neutral_difference():
    model = small_classifier()
    browser = LayerBrowser(model, image=IMAGE, layer="conv", norm="layer",
                           compare=twin(model))
    np.testing.assert_array_equal(browser.compared_snapshot(), browser.snapshot())
    tiles = browser._difference_grid
    difference = browser.difference_snapshot()
    inside = tiles.indices != 255  # leave out the separators
    assert (difference[inside] == middle_of(DIFFERENCE_CMAP)).all()
    assert browser.status.endswith("largest |this − the other model| 0")


def test_the_difference_shows_where_one_filter_was_doubled_and_nowhere_else():
    model = small_classifier()
    doubled = twin(model, scale_channel=1)
    browser = LayerBrowser(doubled, image=IMAGE, layer="conv", norm="layer", compare=model)
    grid = browser._difference_grid
    maps = browser.probe.activations(IMAGE, "conv")
    assert maps[..., 1].max() > 0  # channel 1 responds somewhere on this image
    lut = colormap_lut(DIFFERENCE_CMAP)
    for position, channel in enumerate(grid.channels):
        row, column = divmod(position, grid.columns)
        h, w = grid.tile_shape
        top, left = row * (h + 1), column * (w + 1)
        tile = grid.indices[top : top + h, left : left + w]
        if channel == 1:  # doubled: this − other = the other's map ≥ 0, red where it fires
            assert tile.max() > 127 and tile.min() >= 127
        else:
            assert (tile == 127).all()
    assert lut[255][0] > lut[255][2]  # RdBu_r: the top of the scale is red


def test_models_of_other_architectures_are_refused_naming_the_layer():
    other = keras.Sequential([keras.Input((8, 8, 3)),
                              keras.layers.Conv2D(5, 3, activation="relu", name="conv"),
                              keras.layers.Conv2D(4, 3, activation="relu", name="conv2"),
                              keras.layers.GlobalAveragePooling2D(name="gap"),
                              keras.layers.Dense(2, activation="softmax", name="predictions")])
    with pytest.raises(ValueError, match=r"cannot compare: the models differ at layer 'conv': "
                                         r"output \(6, 6, 5\) where the first has \(6, 6, 4\)"):
        LayerBrowser(small_classifier(), image=IMAGE, compare=other)
    with pytest.raises(ValueError, match="names an epoch, but the widget has no timeline"):
        LayerBrowser(small_classifier(), image=IMAGE, compare=3)


def test_cam_overlays_side_by_side_with_their_difference():
    model = small_classifier()
    overlay = CAMOverlay(model, image=IMAGE, target=1, layer="conv2", compare=twin(model))
    np.testing.assert_array_equal(overlay.compared_snapshot(), overlay.snapshot())
    neutral = colormap_lut(DIFFERENCE_CMAP)[128]
    assert (overlay.difference_snapshot() == neutral).all()
    changed = CAMOverlay(twin(model, scale_channel=0), image=IMAGE, target=1, layer="conv2",
                         compare=model)
    assert not (changed.difference_snapshot() == neutral).all()
    overlay.method = "scorecam"  # slow: Run computes both sides
    overlay.run(wait=True)
    assert overlay.other_result() is not None and overlay.result() is not None
