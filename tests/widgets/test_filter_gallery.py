"""FilterGallery without a browser: kernels drawn exactly, patterns streamed, cancelled, cached."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from traitlets import TraitError

from convviz_widgets import FilterGallery
from convviz_widgets.engine.featvis import PatternCache, precompute, preset

from tiny_models import DEEP_KERNEL, RGB_KERNEL, featvis_model, kernel_model


@pytest.fixture(autouse=True)
def few_steps(monkeypatch):
    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "4")


def test_weights_of_an_rgb_layer_are_colour_tiles_scaled_over_the_layer():
    gallery = FilterGallery(kernel_model(), layer="rgb_conv", mode="weights", tile=2, columns=2)
    picture = gallery.snapshot()
    assert picture.shape == (2, 2 * 2 + 1, 3)  # two 2×2 tiles and a 1-pixel separator
    # Scaled over the layer: (w + 8) / 23 for RGB_KERNEL's values -8 … 15.
    expected = ((RGB_KERNEL[:, :, :, 0] + 8) / 23 * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(picture[:, :2], expected)
    expected_1 = ((RGB_KERNEL[:, :, :, 1] + 8) / 23 * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(picture[:, 3:], expected_1)


def test_deeper_kernels_show_the_l2_norm_over_inputs():
    gallery = FilterGallery(kernel_model(), layer="deep_conv", mode="weights", tile=2)
    picture = gallery.snapshot()
    norms = np.linalg.norm(DEEP_KERNEL, axis=2)  # (kh, kw, filters): [[5, 0], [1, 2]], …
    np.testing.assert_allclose(norms[:, :, 0], [[5, 0], [1, 2]])
    gray = picture[:, :2, 0].astype(float)  # gray colormap: R = G = B
    # Layer scaling: norm / 10 (the largest norm of the layer), as gray levels.
    np.testing.assert_allclose(gray, norms[:, :, 0] / 10 * 255, atol=1.5)


def test_run_streams_previews_then_finished_patterns_and_caches_them():
    cache = PatternCache()
    gallery = FilterGallery(featvis_model(), layer="conv", cache=cache, tile=8)
    assert "0/3 patterns ready (press Run)" in gallery.status
    blank = gallery.snapshot()
    gallery.run(wait=True)
    assert gallery.progress.value == gallery.progress.max == 4
    assert "3/3 patterns ready, 1 dead" in gallery.status  # filter 2 has bias -1, zero weights
    assert gallery.pattern(2).dead and not gallery.pattern(0).dead
    assert (gallery.snapshot() != blank).any()
    # Tiles big enough for numbers say which filter is dead (not computed ones just number).
    numbered = FilterGallery(gallery.probe, layer="conv", cache=cache, tile=32)
    assert list(numbered.grid._numbers[1].text) == ["0", "1", "2 dead"]
    assert list(FilterGallery(featvis_model(), layer="conv", cache=PatternCache(),
                              tile=32).grid._numbers[1].text) == ["0", "1", "2"]
    history = gallery.pattern(0).history
    assert len(history) == 4 and history[-1] > history[0], "the objective rises"
    gallery.filter = 0
    np.testing.assert_allclose(gallery.curve.y, history)
    # A second gallery on the same cache shows the cached patterns without optimizing: three
    # 8×8 tiles (the input's size, not resized) with 1-pixel gaps, each the pattern's pixels.
    again = FilterGallery(gallery.probe, layer="conv", cache=cache, tile=8)
    assert "3/3 patterns ready" in again.status and "press Run" not in again.status
    picture = again.snapshot()
    assert picture.shape == (8, 3 * 9 - 1, 3)
    for index in range(3):
        pattern = again.pattern(index)
        assert pattern is gallery.pattern(index)  # the cache's own object
        np.testing.assert_array_equal(picture[:, 9 * index : 9 * index + 8], pattern.pixels)


def test_a_background_run_keeps_the_widget_answering_and_cancel_stops_it():
    gallery = FilterGallery(featvis_model(), layer="conv", tile=8)
    started = threading.Event()
    original = gallery._refresh_if_current

    def slow_refresh(*args):
        started.set()
        original(*args)
        threading.Event().wait(0.2)  # slow the run down so that cancel lands mid-way

    gallery._refresh_if_current = slow_refresh
    gallery.run()
    assert started.wait(30)
    assert gallery.running and gallery.run_button.disabled
    gallery.mode = "weights"  # other controls keep answering during the run
    assert gallery.mode == "weights"
    gallery.cancel()
    gallery.wait(30)
    assert not gallery.running and not gallery.run_button.disabled
    assert gallery.pattern(0) is None, "a cancelled run stores nothing"


def test_patterns_precomputed_on_disk_open_instantly(tmp_path):
    model = featvis_model()
    precompute(model, "conv", range(3), preset("tutorial"), tmp_path)
    gallery = FilterGallery(model, layer="conv", cache=PatternCache(tmp_path))
    assert "3/3 patterns ready" in gallery.status and not gallery.running


def test_clicking_a_tile_focuses_its_filter():
    gallery = FilterGallery(kernel_model(), layer="rgb_conv", mode="weights", tile=10)
    gallery._on_grid_click(15.0, 3.0)  # second tile (x from 11 to 20)
    assert gallery.filter == 1
    gallery._on_grid_click(10.5, 3.0)  # on the separator: nothing
    assert gallery.filter == 1


def test_bad_values_show_in_the_status_line_and_the_gallery_keeps_working():
    gallery = FilterGallery(kernel_model(), layer="rgb_conv", mode="weights")
    with pytest.raises(TraitError, match="no conv filters"):
        gallery.layer = "dense"
    assert "no conv filters" in gallery.status_line.value
    gallery.layer = "deep_conv"
    assert "⚠" not in gallery.status_line.value
    with pytest.raises(ValueError, match="no Conv2D layer"):
        import keras

        FilterGallery(keras.Sequential([keras.Input((4, 4, 3)), keras.layers.MaxPooling2D(),
                                        keras.layers.Flatten(), keras.layers.Dense(2)]))


def test_a_broken_cache_folder_opens_says_so_and_is_repaired_by_run(tmp_path):
    import io
    import json

    model = featvis_model()
    paths = [tmp_path / f"{PatternCache.key(model, 'conv', i, preset('tutorial'))}.npz"
             for i in range(3)]
    flat = io.BytesIO()  # a 2-D image, which no tile can show
    np.savez(flat, image=np.zeros((8, 8), np.float32), history=np.zeros(4, np.float32),
             meta=np.array(json.dumps({"layer": "conv", "filter": 0, "dead": False,
                                       "display": "deprocess"})))
    paths[0].write_bytes(flat.getvalue())
    paths[1].write_bytes(b"garbage")
    gallery = FilterGallery(model, layer="conv", cache=PatternCache(tmp_path))
    assert "0/3 patterns ready (press Run) · 2 unreadable cache files skipped" in gallery.status
    assert "⚠" not in gallery.status_line.value
    gallery.run(wait=True)
    assert "3/3 patterns ready" in gallery.status and "unreadable" not in gallery.status
    assert gallery.pattern(0).image.shape == (8, 8, 3)


def test_an_unwritable_cache_folder_still_shows_every_pattern_and_says_so(read_only_folder):
    gallery = FilterGallery(featvis_model(), layer="conv", cache=PatternCache(read_only_folder))
    gallery.run(wait=True)
    assert "3/3 patterns ready" in gallery.status
    assert f"could not write patterns to the folder {str(read_only_folder)!r}" in gallery.status
    assert list(read_only_folder.iterdir()) == []
