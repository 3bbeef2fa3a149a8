"""CAMOverlay without a browser: classes and layers scrub without new passes; pixels are exact."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from traitlets import TraitError

from convviz_widgets import CAMOverlay, zoo
from convviz_widgets.engine.render import apply_colormap

import cam_references as ref
from tiny_models import CAM_DENSE, SPATIAL_IMAGE, cam_model, nested_model, spatial_model

# An RGB image; the model's conv keeps R and G (x0, x1): Grad-CAM for class k is
# ReLU(sum_c CAM_DENSE[c, k] / 4 * x_c), scaled by its maximum.
IMAGE = np.array([[[10, 0, 7], [40, 100, 9]], [[200, 50, 3], [0, 30, 1]]], np.uint8)
X = IMAGE[..., :2].astype(np.float64)


def expected_cam(cls: int) -> np.ndarray:
    raw = np.maximum(X @ (CAM_DENSE[:, cls] / 4.0), 0)
    return raw / raw.max()


def rgb_model():
    return cam_model(channels=3)


SPATIAL_NAMES = ["cat", "dog", "fox"]


@pytest.fixture
def spatial_overlay():
    """A CAMOverlay on spatial_model, whose classes rank 2, 0, 1: no bar shows its own index."""
    return CAMOverlay(spatial_model(), image=SPATIAL_IMAGE, layer="conv1",
                      class_names=SPATIAL_NAMES)


def blended(image_pixel: np.ndarray, heat: float, alpha: float = 0.5, cmap: str = "jet"):
    """``(1 - alpha) * pixel + alpha * colormap(heat)``, rounded, by hand (as float)."""
    import matplotlib

    colour = np.array(matplotlib.colormaps[cmap](heat)[:3]) * 255.0
    return np.clip((1 - alpha) * image_pixel + alpha * colour, 0, 255)


def test_the_predicted_class_is_explained_first_and_bars_switch_without_a_pass():
    overlay = CAMOverlay(rgb_model(), image=IMAGE, class_names=["cat", "dog"])
    scores = overlay.probe.predict(IMAGE)
    ranked = [int(i) for i in np.argsort(-scores)]
    assert overlay.class_index == ranked[0]
    assert overlay.explainer.layer_gradients.backward_passes == 1
    assert list(overlay.bars.x) == [["cat", "dog"][i] for i in ranked]
    before = overlay.snapshot()
    overlay._on_bar_click(overlay.bars, {"data": {"index": 1}})
    assert overlay.class_index == ranked[1] and list(overlay.bars.selected) == [1]
    assert overlay.explainer.layer_gradients.backward_passes == 1
    assert (overlay.snapshot() != before).any()
    assert f"explaining: {['cat', 'dog'][ranked[1]]}" in overlay.status


@pytest.mark.parametrize("cls", [0, 1])
def test_overlay_pixels_blend_the_hand_computed_cam_over_the_image(cls):
    overlay = CAMOverlay(rgb_model(), image=IMAGE, target=cls)
    overlay.alpha, overlay.cmap = 0.25, "gray"
    picture = overlay.snapshot()
    assert picture.shape == (320, 320, 3)  # the 2×2 image enlarged ×160
    cam = expected_cam(cls)
    # Bilinear upsampling keeps each corner pixel's value in the output's corners.
    for (row, col), (y, x) in {(0, 0): (0, 0), (1, 1): (319, 319), (0, 1): (0, 319)}.items():
        heat = apply_colormap(np.array([cam[row, col]]), "gray")[0].astype(float)
        expected = np.clip(0.75 * IMAGE[row, col] + 0.25 * heat + 0.5, 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(picture[y, x], expected)


def test_sigmoid_model_switches_between_positive_and_negative_evidence():
    inputs = keras.Input((2, 2, 3))
    conv = keras.layers.Conv2D(2, 1, name="conv", use_bias=False, kernel_initializer=(
        keras.initializers.Constant(np.eye(3, 2, dtype=np.float32)[None, None])))(inputs)
    unit = keras.layers.Dense(1, activation="sigmoid", use_bias=False,
                              kernel_initializer=keras.initializers.Constant([[1.0], [-1.0]]))(
        keras.layers.GlobalAveragePooling2D()(conv))
    overlay = CAMOverlay(keras.Model(inputs, unit), image=IMAGE)
    assert list(overlay.bars.x) == ["positive", "negative"]
    positive = overlay.cam_map()
    overlay.class_index = 1
    negative = overlay.cam_map()
    raw = X[..., 0] - X[..., 1]
    np.testing.assert_allclose(positive, np.maximum(raw, 0) / np.maximum(raw, 0).max(), atol=1e-5)
    np.testing.assert_allclose(negative, np.maximum(-raw, 0) / np.maximum(-raw, 0).max(),
                               atol=1e-5)


def test_a_bar_click_explains_the_class_that_bar_shows(spatial_overlay):
    overlay = spatial_overlay
    ranked = np.argsort(-ref.probabilities(SPATIAL_IMAGE[None])[0]).tolist()
    assert ranked == [2, 0, 1]  # the bar at position p never shows class p
    assert list(overlay.bars.x) == [SPATIAL_NAMES[c] for c in ranked]
    assert overlay.class_index == 2 and list(overlay.bars.selected) == [0]
    for position in (1, 2, 0):
        overlay._on_bar_click(overlay.bars, {"data": {"index": position}})
        cls = ranked[position]
        assert overlay.class_index == cls and overlay.class_box.value == cls
        assert list(overlay.bars.selected) == [position]
        assert f"explaining: {SPATIAL_NAMES[cls]}" in overlay.status
        cam = ref.gradcam(SPATIAL_IMAGE, "conv1", cls)
        np.testing.assert_allclose(overlay.cam_map(), cam, atol=2e-5)
        # The 4×4 image is drawn ×80: the corner pixel blends the map's corner value over it
        # (within one level: the colormap is looked up in a 256-entry table).
        np.testing.assert_allclose(overlay.snapshot()[0, 0],
                                   blended(SPATIAL_IMAGE[0, 0], cam[0, 0]), atol=1)
    assert overlay.explainer.layer_gradients.backward_passes == 1


def test_typing_a_class_selects_the_bar_that_shows_it(spatial_overlay):
    spatial_overlay.class_box.value = 1  # ranked third
    assert spatial_overlay.class_index == 1 and list(spatial_overlay.bars.selected) == [2]
    assert "explaining: dog" in spatial_overlay.status


def test_score_cam_waits_for_run_and_reports_progress(spatial_overlay):
    overlay = spatial_overlay
    overlay.method = "scorecam"
    assert "press Run" in overlay.status and overlay.cam_map() is None
    overlay.run_button.click()  # runs in a thread: the kernel stays responsive
    overlay.wait(60)
    assert overlay.progress.value == overlay.progress.max == 3  # one masked input per channel
    np.testing.assert_allclose(overlay.cam_map(), ref.scorecam(SPATIAL_IMAGE, "conv1", 2),
                               atol=2e-5)


def test_bad_values_show_in_the_status_line_and_the_overlay_keeps_working():
    overlay = CAMOverlay(rgb_model(), image=IMAGE)
    with pytest.raises(TraitError, match="out of range"):
        overlay.class_index = 5
    assert "out of range" in overlay.status_line.value
    with pytest.raises(TraitError, match="not a conv layer"):
        overlay.layer = "gap"
    with pytest.raises(TraitError, match="grayscale"):
        overlay.image = np.zeros((2, 2), np.uint8)
    overlay.class_index = 1 - overlay.class_index
    assert "⚠" not in overlay.status_line.value


def test_the_layer_slider_scrubs_every_conv_layer_from_one_pass():
    overlay = CAMOverlay(nested_model(), image=np.full((3, 3, 3), 9, np.uint8))
    assert overlay.layer_slider.max == len(overlay.explainer.layers) - 1 == 0
    assert overlay.layer == "inner/mix" and overlay.explainer.layer_gradients.backward_passes == 1


def test_deletion_and_insertion_curves_are_measured_on_the_map_shown():
    overlay = CAMOverlay(rgb_model(), image=IMAGE, target=0)
    assert overlay.curves is None and overlay.curve_chart.layout.display == "none"
    overlay.show_curves = True
    assert overlay.curves_toggle.value and overlay.curve_chart.layout.display is None
    curves = overlay.curves
    probability = overlay.probe.predict(IMAGE)[0]
    # Nothing deleted yet: the class probability itself; everything inserted: the same.
    assert curves.deletion[0] == pytest.approx(probability, abs=1e-6)
    assert curves.insertion[-1] == pytest.approx(probability, abs=1e-6)
    np.testing.assert_allclose(overlay.curve_lines.y[0], curves.deletion)
    assert "deletion AUC" in overlay.curve_chart.title
    overlay.class_index = 1
    assert overlay.curves is not curves
    assert overlay.curves.deletion[0] == pytest.approx(overlay.probe.predict(IMAGE)[1], abs=1e-6)


def test_a_thousand_class_model_is_decoded_with_the_bundled_imagenet_names():
    inputs = keras.Input((2, 2, 3))
    conv = keras.layers.Conv2D(2, 1, name="conv")(inputs)
    outputs = keras.layers.Dense(1000, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(conv))
    overlay = CAMOverlay(keras.Model(inputs, outputs), image=IMAGE)
    assert overlay.class_names[386] == "African elephant"
    # Under the bars, names are cut to 12 characters (so they never overlap), still distinct,
    # each the start of the class it stands for.
    full = [overlay.class_names[i] for i in overlay._top]
    assert len(set(overlay.bars.x)) == len(full)
    for label, name in zip(overlay.bars.x, full, strict=True):
        assert len(label.split(" (")[0]) <= 12
        assert label == name or name.startswith(label.split("…")[0])


@pytest.mark.parametrize("name", ["shapes", "shapes_circle"])
def test_a_bundled_model_given_without_names_shows_its_own_class_names(name):
    overlay = CAMOverlay(zoo.load_model(name), image=zoo.load_image("circle"))
    assert overlay.class_names == zoo.class_names(name)
    assert overlay.status.startswith("predicted: circle")


def test_a_model_named_like_a_bundled_one_but_shaped_otherwise_keeps_numbered_names():
    inputs = keras.Input((2, 2, 3))
    conv = keras.layers.Conv2D(2, 1, name="conv")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(conv))
    overlay = CAMOverlay(keras.Model(inputs, outputs, name="shapes_vgg"), image=IMAGE)
    assert overlay.class_names == ["class 0", "class 1", "class 2"]


def test_pixel_space_methods_show_maps_at_the_input_size(spatial_overlay):
    for method in ("saliency", "guided gradcam", "deconvnet"):
        spatial_overlay.method = method
        expected = ref.REFERENCES[method](SPATIAL_IMAGE, "conv1", 2)
        np.testing.assert_allclose(spatial_overlay.cam_map(), expected, atol=2e-5)
        assert "⚠" not in spatial_overlay.status_line.value
    overlay = CAMOverlay(rgb_model(), image=IMAGE, target=0)
    # Linear path to the logit: |d logit_0 / d x| = |CAM_DENSE[c, 0]| / 4 for the kept channels.
    overlay.method = "saliency"
    expected = np.full((2, 2), max(abs(CAM_DENSE[0, 0]), abs(CAM_DENSE[1, 0])) / 4)
    np.testing.assert_allclose(overlay.cam_map(), expected / expected.max(), atol=1e-6)


def test_smoothgrad_waits_for_run(spatial_overlay):
    overlay = spatial_overlay
    overlay.method = "smoothgrad"
    assert "press Run" in overlay.status and overlay.cam_map() is None
    overlay.run(wait=True)
    assert overlay.progress.value == overlay.progress.max == 25  # noisy copies differentiated
    np.testing.assert_allclose(overlay.cam_map(), ref.smoothgrad(SPATIAL_IMAGE, "conv1", 2),
                               atol=2e-5)


def test_cancelling_score_cam_stops_after_the_current_batch():
    overlay = CAMOverlay(rgb_model(), image=IMAGE, method="scorecam")
    batches = []
    original = overlay.progress

    class Watch:
        def __setattr__(self, name, value):
            setattr(original, name, value)
            if name == "value":
                batches.append(value)
                overlay.cancel()  # pressed while the first batch is reported

        def __getattr__(self, name):
            return getattr(original, name)

    overlay.progress = Watch()
    overlay.run(wait=True)
    assert batches == [0, 2]  # reset, then the only batch; no map is kept
    assert overlay.cam_map() is None and "cancelled" in overlay.status
    assert not overlay.run_button.disabled
