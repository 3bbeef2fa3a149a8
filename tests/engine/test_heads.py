"""Models the engine used to refuse or misread: several outputs, mixed precision, logit heads,
channels-first layouts, and images too small for a model with a free input size."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets import CAMOverlay, FilterGallery, LayerBrowser
from convviz_widgets.engine.heads import OutputHead
from convviz_widgets.engine.probe import ActivationProbe

from tiny_models import CAM_DENSE, cam_model

IMAGE = np.array([[[10, 0, 7], [40, 100, 9]], [[200, 50, 3], [0, 30, 1]]], np.uint8)
X = IMAGE[..., :2].astype(np.float64)


def two_headed():
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv", activation="relu")(inputs)
    features = keras.layers.GlobalAveragePooling2D()(conv)
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(features)
    box = keras.layers.Dense(4, name="box")(features)
    return keras.Model(inputs, [kind, box])


def test_feature_maps_and_filters_of_a_two_headed_model_need_no_output():
    model = two_headed()
    picture = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    browser = LayerBrowser(model, image=picture)
    assert browser.layer == "conv" and "⚠" not in browser.status_line.value
    gallery = FilterGallery(model, mode="weights")
    assert gallery.snapshot().shape[-1] == 3
    with pytest.raises(ValueError, match=r"2 outputs; pass output= one of 0 \('kind'\)"):
        CAMOverlay(model, image=picture)
    overlay = CAMOverlay(model, image=picture, output="kind")
    assert overlay.class_names == ["class 0", "class 1", "class 2"]
    assert "⚠" not in overlay.status_line.value


def test_mixed_precision_heads_explain_in_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = cam_model(channels=3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("predictions").compute_dtype == "float16"
    probe = ActivationProbe(model)
    assert probe.activations(IMAGE, "conv").dtype == np.float32
    for method in ("gradcam", "saliency", "scorecam", "guided gradcam"):
        result = probe.cam(IMAGE, "conv", 1, method)
        assert result.map.dtype == np.float32 and np.isfinite(result.map).all()
    expected = np.maximum(X @ (CAM_DENSE[:, 1] / 4.0), 0)
    np.testing.assert_allclose(probe.cam(IMAGE, "conv", 1).map, expected / expected.max(),
                               atol=2e-3)  # float16 arithmetic
    overlay = CAMOverlay(model, image=IMAGE)
    assert "⚠" not in overlay.status_line.value


def test_a_logit_head_shows_softmax_probabilities_labelled_so():
    model = cam_model(activation=None, channels=3)
    probe = ActivationProbe(model)
    head = probe.head()
    assert head.squashing is None and head.value_kind == "softmax of logits"
    logits = probe.predict(IMAGE).astype(np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(head.probabilities(logits), expected)
    overlay = CAMOverlay(model, image=IMAGE)
    assert overlay.class_chart.title == "top classes (softmax of logits)"
    assert max(overlay.bars.y) <= 1.0 and sum(overlay.bars.y) == pytest.approx(1.0)
    top = int(np.argmax(expected))
    assert f"(softmax of logits {expected[top]:.0%})" in overlay.status
    # the logit is still what Grad-CAM explains: the same map as with the softmax model
    softmax_model = cam_model(channels=3)
    np.testing.assert_allclose(probe.cam(IMAGE, "conv", 0).map,
                               ActivationProbe(softmax_model).cam(IMAGE, "conv", 0).map, atol=1e-6)


def test_a_single_logit_unit_reads_as_the_sigmoid_of_its_score():
    head = OutputHead(0, "score", None, None, 1)
    np.testing.assert_allclose(head.probabilities(np.array([0.0, 2.0])),
                               [0.5, 1 / (1 + np.exp(-2.0))])
    assert head.value_kind == "sigmoid of logit"


@pytest.mark.parametrize("channels", [3, 4, 64])
def test_channels_first_models_are_refused_with_the_readme_sentence(channels):
    inputs = keras.Input((channels, 16, 16))
    conv = keras.layers.Conv2D(4, 3, data_format="channels_first", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(conv))
    with pytest.raises(ValueError, match=r"channels-first \(layer 'conv'\); rebuild it with "
                                         r"data_format='channels_last'"):
        ActivationProbe(model)


def test_an_image_too_small_for_a_free_size_model_names_the_smallest_size():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(4, 3, name="c2")(x)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    probe = ActivationProbe(keras.Model(inputs, outputs))
    # 3×3 conv (−2), pool ÷2, 3×3 conv (−2): the smallest side is 8 (8 → 6 → 3 → 1).
    assert probe.activations(np.zeros((8, 8, 3), np.uint8), "c2").shape == (1, 1, 4)
    with pytest.raises(ValueError, match=r"^the image is 5×6 pixels, too small for this model, "
                                         r"which needs at least 8×8; use a larger image\.$"):
        probe.activations(np.zeros((5, 6, 3), np.uint8), "c2")
    browser = LayerBrowser(probe, image=np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError):
        browser.image = np.zeros((4, 4, 3), np.uint8)
    assert "at least 8×8" in browser.status and "Traceback" not in browser.status
