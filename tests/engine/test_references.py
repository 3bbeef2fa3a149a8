"""Every explanation method equals an independent reference on a model whose gradients vary.

The references (``tests/cam_references.py``) recompute ``spatial_model`` with plain TensorFlow
ops and ``tf.GradientTape``, without the engine. A conv and a dense layer follow both explained
layers, so the gradient differs from pixel to pixel: Grad-CAM with the maximum (or any other
summary) of the gradient instead of its mean, Grad-CAM++ with other weights, Layer-CAM without
its elementwise product, or any method returning another method's map, fails here.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from convviz_widgets.engine.cam import METHODS
from convviz_widgets.engine.gradients import ClassTarget
from convviz_widgets.engine.probe import ActivationProbe

import cam_references as ref
from tiny_models import SPATIAL_IMAGE, spatial_model

ATOL = 2e-5  # maps in [0, 1]; float32 sums in another order differ by ~1e-6


@pytest.fixture(scope="module")
def probe():
    return ActivationProbe(spatial_model())


@pytest.fixture(scope="module")
def references():
    """Every reference map, by (method, layer, class), computed once."""
    return {(method, layer, cls): compute(SPATIAL_IMAGE, layer, cls)
            for (method, compute), layer, cls in itertools.product(
                ref.REFERENCES.items(), ref.LAYERS, ref.CLASSES)}


def test_keras_and_the_reference_compute_the_same_model(probe):
    for layer in ref.LAYERS:
        np.testing.assert_allclose(probe.activations(SPATIAL_IMAGE, layer),
                                   ref.forward(SPATIAL_IMAGE[None].astype(np.float32))[layer][0],
                                   atol=1e-5)
    np.testing.assert_allclose(probe.predict(SPATIAL_IMAGE),
                               ref.probabilities(SPATIAL_IMAGE[None])[0], atol=1e-6)
    np.testing.assert_array_equal(ref.logits(SPATIAL_IMAGE), [1.390625, 0.0, 2.46875])
    # What the docstring of spatial_model says of its ReLUs: some off, none near the kink.
    outputs = ref.forward(SPATIAL_IMAGE[None].astype(np.float32))
    pre1, pre2 = outputs["conv1_pre"].numpy(), outputs["conv2_pre"].numpy()
    assert (pre1 < 0).sum() == 14 and np.abs(pre1).min() >= 0.25
    np.testing.assert_array_equal(pre2[0, ..., 0], [[20.1875, 0.1875], [14.6875, 2.5]])
    np.testing.assert_array_equal(pre2[0, ..., 1], [[1.6875, -6.875], [5.75, 5.9375]])


@pytest.mark.parametrize("layer", ref.LAYERS)
@pytest.mark.parametrize("cls", ref.CLASSES)
def test_the_gradient_varies_over_space_so_the_channel_weights_matter(layer, cls):
    activations, gradient = ref.layer_gradient(SPATIAL_IMAGE, layer, cls)
    mean = ref.scaled(activations @ gradient.mean(axis=(0, 1)))
    for other in (gradient.max(axis=(0, 1)), gradient.min(axis=(0, 1)),
                  gradient[0, 0], np.abs(gradient).mean(axis=(0, 1))):
        assert np.abs(ref.scaled(activations @ other) - mean).max() > 0.05


def test_the_references_tell_every_method_apart(references):
    """Each method's map differs from every other method's at the same resolution, for every
    layer and class, so no method passes by computing another one's map."""
    for layer, cls in itertools.product(ref.LAYERS, ref.CLASSES):
        maps = {method: references[method, layer, cls] for method in ref.REFERENCES}
        assert all(np.ptp(m) > 0.1 for m in maps.values()), (layer, cls)  # none flat
        for one, two in itertools.combinations(maps, 2):
            if maps[one].shape == maps[two].shape:
                assert np.abs(maps[one] - maps[two]).max() > 0.01, (one, two, layer, cls)


def test_every_registered_method_has_a_reference():
    assert set(ref.REFERENCES) == set(METHODS)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("layer", ref.LAYERS)
@pytest.mark.parametrize("cls", ref.CLASSES)
def test_every_method_matches_its_independent_reference(probe, references, method, layer, cls):
    result = probe.cam(SPATIAL_IMAGE, layer, cls, method)
    expected = references[method, layer, cls]
    assert result.map.dtype == np.float32 and result.map.shape == expected.shape
    np.testing.assert_allclose(result.map, expected, atol=ATOL, err_msg=method)
    np.testing.assert_allclose(result.upsampled, ref.bilinear(expected, (4, 4)), atol=ATOL)
    assert (result.method, result.layer, result.target) == (method, layer, ClassTarget(cls))
    assert result.input_size == (4, 4)


@pytest.mark.parametrize("cls", ref.CLASSES)
def test_gradcam_of_a_probability_target_follows_the_softmax_gradient(probe, cls):
    target = ClassTarget(cls, on="probability")
    for layer in ref.LAYERS:
        expected = ref.gradcam(SPATIAL_IMAGE, layer, cls, on="probability")
        assert np.abs(expected - ref.gradcam(SPATIAL_IMAGE, layer, cls)).max() > 0.01
        result = probe.cam(SPATIAL_IMAGE, layer, target, "gradcam")
        np.testing.assert_allclose(result.map, expected, atol=ATOL)
        assert result.score == pytest.approx(ref.probabilities(SPATIAL_IMAGE[None])[0, cls],
                                             rel=1e-5)
    saliency = ref.saliency(SPATIAL_IMAGE, "conv1", cls, on="probability")
    np.testing.assert_allclose(probe.cam(SPATIAL_IMAGE, None, target, "saliency").map, saliency,
                               atol=ATOL)


@pytest.mark.parametrize("method", sorted(name for name, cls in METHODS.items()
                                          if "gradients" in cls.needs
                                          and cls.resolution == "layer"))
def test_gradient_cams_report_the_logit_they_explain(probe, method):
    for cls in ref.CLASSES:
        result = probe.cam(SPATIAL_IMAGE, "conv1", cls, method)
        assert result.score == pytest.approx(ref.logits(SPATIAL_IMAGE)[cls], rel=1e-5)


def test_the_predicted_class_is_explained_when_no_target_is_given(probe):
    top = int(np.argmax(ref.probabilities(SPATIAL_IMAGE[None])[0]))
    assert top == 2
    result = probe.cam(SPATIAL_IMAGE, "conv2", None, "gradcam")
    assert result.target == ClassTarget(top)
    np.testing.assert_allclose(result.map, ref.gradcam(SPATIAL_IMAGE, "conv2", top), atol=ATOL)
