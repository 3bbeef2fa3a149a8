"""Every trait refuses what it cannot show with one sentence, keeps its control in sync, and the
widget stays usable; one change computes once."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from traitlets import TraitError

from convviz_widgets import CAMOverlay, FilterGallery, InvalidValue, LayerBrowser, zoo
from convviz_widgets.engine.cam import result as cam_result

from tiny_models import cam_model

IMAGE = np.array([[[10, 0, 7], [40, 100, 9]], [[200, 50, 3], [0, 30, 1]]], np.uint8)


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


def assert_refused(widget, name: str, value, match: str) -> None:
    """Setting ``name`` to ``value`` raises one sentence, shows it, and changes nothing."""
    before = getattr(widget, name)
    with pytest.raises(InvalidValue, match=match) as caught:
        setattr(widget, name, value)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TraitError)
    message = str(caught.value)
    assert message.count(". ") == 0 and message.endswith("."), message  # one sentence
    assert "⚠" in widget.status_line.value
    assert match.split(".")[0].lower() in widget.status.lower()
    assert getattr(widget, name) == before or (
        isinstance(before, float) and math.isnan(before))


def test_the_error_class_is_both_a_value_error_and_a_trait_error(shapes_model):
    browser = LayerBrowser(shapes_model, image="star")
    with pytest.raises(ValueError, match="not feature maps"):
        browser.layer = "predictions"
    with pytest.raises(TraitError, match="not feature maps"):
        browser.layer = "predictions"


def test_layer_browser_refuses_a_preprocessing_layer_and_keeps_the_picker_in_sync(shapes_model):
    browser = LayerBrowser(shapes_model, image="star", layer="block2_conv1")
    slider = browser.layer_slider.value
    assert_refused(browser, "layer", "rescaling", "input preprocessing layer")
    assert browser.layer_picker.value == "block2_conv1" == browser.layer
    assert browser.layer_slider.value == slider
    browser.layer = "block3_conv1"  # still usable
    assert "⚠" not in browser.status_line.value


def test_a_valid_colormap_outside_the_dropdown_is_added_to_it(shapes_model):
    browser = LayerBrowser(shapes_model, image="star")
    browser.cmap = "viridis_r"
    assert browser.cmap_picker.value == "viridis_r" and "viridis_r" in browser.cmap_picker.options
    overlay = CAMOverlay(shapes_model, image="star")
    overlay.cmap = "magma_r"
    assert overlay.cmap_picker.value == "magma_r"
    assert_refused(overlay, "cmap", "no_such_map", "unknown colormap")
    assert overlay.cmap_picker.value == "magma_r"


def test_image_none_is_refused_and_the_last_picture_stays(shapes_model):
    browser = LayerBrowser(shapes_model, image="star")
    shown = browser.snapshot()
    with pytest.raises(InvalidValue, match="image"):
        browser.image = None
    np.testing.assert_array_equal(browser.snapshot(), shown)
    overlay = CAMOverlay(shapes_model, image="star")
    with pytest.raises(InvalidValue, match="image"):
        overlay.image = None


@pytest.mark.parametrize("alpha", [math.nan, math.inf, -0.1, 1.5])
def test_alpha_outside_zero_to_one_is_refused(shapes_model, alpha):
    overlay = CAMOverlay(shapes_model, image="star")
    picture = overlay.snapshot()
    assert_refused(overlay, "alpha", alpha, "alpha is the heat map's opacity")
    assert overlay.alpha_slider.value == overlay.alpha == 0.5
    np.testing.assert_array_equal(overlay.snapshot(), picture)


@pytest.mark.parametrize("target", [99, -1, "maybe", 1.5, "positive"])
def test_a_target_that_names_no_class_is_refused_at_construction(shapes_model, target):
    with pytest.raises(ValueError, match=r"out of range|cannot explain|single-unit"):
        CAMOverlay(shapes_model, image="star", target=target)


def test_class_index_out_of_range_is_refused_and_the_box_stays(shapes_model):
    overlay = CAMOverlay(shapes_model, image="star")
    assert_refused(overlay, "class_index", 7, "out of range")
    assert overlay.class_box.value == overlay.class_index


def test_class_names_of_the_wrong_length_are_refused_with_the_count():
    with pytest.raises(ValueError, match="has 1 names but the model needs 2 names"):
        CAMOverlay(cam_model(channels=3), image=IMAGE, class_names=["cat"])


@pytest.mark.parametrize("tile", [0, -5, 10_000, 2.5])
def test_a_tile_size_that_cannot_be_drawn_is_refused(shapes_model, tile):
    with pytest.raises(InvalidValue, match="tile is a tile's side in pixels"):
        FilterGallery(shapes_model, tile=tile)


def test_widgets_accept_input_shape_as_their_errors_say(shapes_model):
    import keras

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 1, name="conv")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.dense = keras.layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.dense(self.pool(self.conv(x)))

    model = Subclassed()
    with pytest.raises(ValueError, match=r"input_shape=\(height, width, channels\)"):
        LayerBrowser(model, image=IMAGE)
    browser = LayerBrowser(model, image=IMAGE, input_shape=(2, 2, 3))
    assert browser.snapshot().shape[-1] == 3
    assert CAMOverlay(model, image=IMAGE, input_shape=(2, 2, 3)).snapshot().shape[-1] == 3


def test_one_layer_browser_change_resolves_the_layer_once_and_the_pass_once(shapes_model):
    browser = LayerBrowser(shapes_model, image="star", page_size=16)
    probe = browser.probe
    looked_up = []
    own_layer = probe.layer
    probe.layer = lambda key: looked_up.append(key) or own_layer(key)
    try:
        for change in (lambda: setattr(browser, "layer", "block3_conv1"),
                       lambda: setattr(browser, "page", 1),
                       lambda: setattr(browser, "cmap", "magma"),
                       lambda: setattr(browser, "norm", "layer"),
                       lambda: setattr(browser, "channel", 5)):
            looked_up.clear()
            before = probe.cache.hits + probe.cache.misses
            change()
            assert len(looked_up) <= 1
            assert probe.cache.hits + probe.cache.misses - before == 1
    finally:
        del probe.layer


def test_a_cam_is_upsampled_once_per_map_also_with_curves(shapes_model, monkeypatch):
    overlay = CAMOverlay(shapes_model, image="star", target=3)
    overlay.show_curves = True
    calls = []
    own = cam_result.upsample
    monkeypatch.setattr(cam_result, "upsample", lambda *a: calls.append(a) or own(*a))
    overlay.class_index = 0  # a new map: upsampled once, for the picture and the curves
    assert len(calls) == 1
    overlay.alpha = 0.3  # the same map again: not upsampled again
    assert len(calls) == 1


def test_run_right_after_cancel_starts_a_new_run(shapes_model):
    overlay = CAMOverlay(shapes_model, image="star", method="scorecam")
    started = threading.Event()
    release = threading.Event()
    own = overlay.explainer.scorer

    def slow_scorer():
        started.set()
        release.wait(10)
        return own()

    overlay.explainer.scorer = slow_scorer
    overlay.run()
    assert started.wait(10)
    overlay.cancel()
    overlay.run()  # pressed while the cancelled run is still ending
    assert "starts right after" in overlay.status
    overlay.explainer.scorer = own
    release.set()
    deadline = threading.Event()
    for _ in range(200):
        if overlay.cam_map() is not None and not overlay._busy():
            break
        deadline.wait(0.1)
    assert overlay.cam_map() is not None, overlay.status
    assert not overlay.run_button.disabled


def test_what_was_done_to_an_image_is_said_in_the_status_line(shapes_model):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    browser = LayerBrowser(shapes_model, image=rgba)
    assert "alpha" in browser.status and "⚠" not in browser.status_line.value
    overlay = CAMOverlay(shapes_model, image=rgba)
    assert "alpha" in overlay.status
    browser.image = "star"
    assert "alpha" not in browser.status


def test_gallery_run_right_after_cancel_starts_a_new_run():
    from tiny_models import featvis_model

    gallery = FilterGallery(featvis_model(), layer="conv", page_size=3)
    gallery.run()
    gallery.cancel()
    gallery.run()  # while the cancelled run may still be ending: it must not be lost
    for _ in range(300):
        if not gallery.running and not gallery._busy():
            break
        threading.Event().wait(0.1)
    gallery.wait(30)
    assert all(gallery.pattern(f) is not None for f in range(3)), gallery.status


def test_a_slow_method_not_run_shows_no_other_methods_map_and_says_so():
    from convviz_widgets.engine.render import enlarge

    overlay = CAMOverlay(zoo.load_model("shapes"), image="star", target=3)  # nothing cached
    with_gradcam = overlay.snapshot()
    overlay.method = "scorecam"
    plain = enlarge(overlay._input.display, 5)  # the 64-px image at 320 px, no heat map
    np.testing.assert_array_equal(overlay.snapshot(), plain)
    assert not np.array_equal(with_gradcam, plain)
    assert overlay.status == "Score-CAM is slow: press Run to compute it."


def test_while_a_slow_method_runs_the_status_line_says_so():
    overlay = CAMOverlay(zoo.load_model("shapes"), image="star", target=3, method="scorecam")
    seen = []
    overlay.observe(lambda change: seen.append(change["new"]), "status")
    overlay.run(wait=True)
    assert "Score-CAM is running: 32/64." in seen and "Score-CAM is running: 64/64." in seen
    assert overlay.status.startswith("predicted: star")
    assert not any("press Run" in status for status in seen)
