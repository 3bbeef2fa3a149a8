"""Caches that know when the weights change: after fit, set_weights or layer.set_weights,
every cache answers for the weights the model has now."""

from __future__ import annotations

import keras
import matplotlib
import numpy as np

from convviz_widgets import CAMOverlay, LayerBrowser
from convviz_widgets.engine.featvis import TUTORIAL, PatternCache, pattern_steps
from convviz_widgets.engine.probe import ActivationProbe, shared_probe
from convviz_widgets.engine.saliency import input_gradients
from convviz_widgets.engine.weights import SAMPLES_PER_VARIABLE, WeightsWatch

from tiny_models import CAM_DENSE, cam_model, featvis_model

IMAGE = np.array([[[10, 0, 7], [40, 100, 9]], [[200, 50, 3], [0, 30, 1]]], np.uint8)


def rgb_cam_model():
    return cam_model(channels=3)


def scaled(model, factor: float) -> None:
    model.set_weights([w * factor for w in model.get_weights()])


def test_the_watch_sees_fit_set_weights_and_layer_set_weights_and_nothing_else():
    model = rgb_cam_model()
    watch = WeightsWatch(model)
    first = watch.check()
    assert watch.check() == first  # nothing changed
    model(IMAGE[None].astype("float32"))  # calling the model changes no weight
    assert watch.check() == first
    scaled(model, 2.0)
    second = watch.check()
    assert second == first + 1
    conv = model.get_layer("conv")
    conv.set_weights([w + 1 for w in conv.get_weights()])
    assert watch.check() == second + 1
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    model.fit(IMAGE[None].astype("float32"), np.array([[0.0, 1.0]]), epochs=1, verbose=0)
    assert watch.check() == second + 2
    assert watch.changed() == second + 3  # declared by hand after surgery it may not sample


def test_a_large_variable_is_sampled_at_fixed_positions_that_an_edit_of_all_weights_hits():
    model = keras.Sequential([keras.Input((1000,)), keras.layers.Dense(300)])
    watch = WeightsWatch(model)
    first = watch.check()
    kernel = model.layers[0].kernel
    assert watch._sample.size < kernel.shape[0] * kernel.shape[1] // 100
    assert watch._sample.size <= (SAMPLES_PER_VARIABLE + 1) * 2
    kernel.assign(kernel.numpy() * 0.5)
    assert watch.check() == first + 1


def test_activations_cams_and_gradients_follow_set_weights_on_a_shared_probe():
    model = rgb_cam_model()
    probe = shared_probe(model)
    before_maps = probe.activations(IMAGE, "conv").copy()
    before_cam = probe.cam(IMAGE, "conv", 0, "gradcam++").map.copy()
    before_gradient = input_gradients(probe).gradient(IMAGE, 0).copy()
    conv = model.get_layer("conv")
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 2, 0] = kernel[0, 0, 1, 1] = 1.0  # conv now keeps B and G instead of R and G
    conv.set_weights([kernel])
    fresh = ActivationProbe(model)
    np.testing.assert_array_equal(probe.activations(IMAGE, "conv"),
                                  fresh.activations(IMAGE, "conv"))
    assert not np.array_equal(probe.activations(IMAGE, "conv"), before_maps)
    np.testing.assert_allclose(probe.cam(IMAGE, "conv", 0, "gradcam++").map,
                               fresh.cam(IMAGE, "conv", 0, "gradcam++").map, atol=1e-6)
    assert not np.allclose(probe.cam(IMAGE, "conv", 0, "gradcam++").map, before_cam)
    gradient = input_gradients(probe).gradient(IMAGE, 0)  # traced once, reads the variables
    np.testing.assert_allclose(gradient, input_gradients(fresh).gradient(IMAGE, 0), atol=1e-6)
    assert not np.allclose(gradient, before_gradient)


def assert_grid_shows(picture: np.ndarray, maps: np.ndarray) -> None:
    """A LayerBrowser grid of two 2×2 channels (default width: 319-pixel tiles, 160 pixels a
    cell) scaled over the layer's range, each cell in viridis, checked at the cells' centres."""
    assert picture.shape == (319, 2 * 320 - 1, 3)
    low, high = maps.min(), maps.max()
    for channel, i, j in np.ndindex(2, 2, 2):
        colour = np.array(matplotlib.colormaps["viridis"](
            (maps[i, j, channel] - low) / (high - low))[:3]) * 255
        pixel = picture[160 * i + 80, 320 * channel + 160 * j + 80]
        np.testing.assert_allclose(pixel, colour, atol=2, err_msg=(channel, i, j))


def test_a_new_widget_on_a_trained_model_shows_the_new_weights():
    model = rgb_cam_model()  # conv keeps R and G
    browser = LayerBrowser(model, image=IMAGE, layer="conv", norm="layer")
    overlay = CAMOverlay(model, image=IMAGE, target=0)
    assert_grid_shows(browser.snapshot(), IMAGE[..., [0, 1]].astype(float))
    conv = model.get_layer("conv")
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 2, 0] = kernel[0, 0, 1, 1] = 1.0  # conv now keeps B and G
    conv.set_weights([kernel])
    kept = IMAGE[..., [2, 1]].astype(float)
    assert_grid_shows(LayerBrowser(model, image=IMAGE, layer="conv", norm="layer").snapshot(),
                      kept)
    browser.image = IMAGE.copy()  # re-setting the image redraws from the new weights
    assert_grid_shows(browser.snapshot(), kept)
    # Grad-CAM of class 0 on the kept channels: ReLU(sum_c CAM_DENSE[c, 0] / 4 x_c), scaled.
    cam = np.maximum(kept @ (CAM_DENSE[:, 0] / 4), 0)
    np.testing.assert_allclose(CAMOverlay(model, image=IMAGE, target=0).cam_map(),
                               cam / cam.max(), atol=1e-6)
    overlay.image = IMAGE.copy()
    np.testing.assert_allclose(overlay.cam_map(), cam / cam.max(), atol=1e-6)


def test_a_shared_pattern_cache_recomputes_patterns_after_the_weights_change():
    model = featvis_model()
    cache = PatternCache()
    settings = TUTORIAL.replace(steps=2)

    def patterns():
        found = {}
        for update in pattern_steps(model, "conv", [0, 1], settings, cache=cache):
            found.update({p.filter: p for p in update.finished})
        return found

    first = patterns()
    assert len(cache) == 2
    assert patterns()[0] is first[0]  # same weights: served from the cache
    scaled(model, 1.5)
    second = patterns()
    assert len(cache) == 4 and second[0] is not first[0]
    assert not np.array_equal(second[0].history, first[0].history)


def test_one_widget_change_checks_the_weights_once():
    model = rgb_cam_model()
    browser = LayerBrowser(model, image=IMAGE, layer="conv")
    overlay = CAMOverlay(model, image=IMAGE)
    watch = browser.probe.weights
    for change in (lambda: setattr(browser, "cmap", "magma"),
                   lambda: setattr(browser, "channel", 1),
                   lambda: setattr(overlay, "class_index", 1 - overlay.class_index),
                   lambda: setattr(overlay, "method", "layercam")):
        before = watch.checks
        change()
        assert watch.checks - before == 1


def test_weights_shown_again_get_their_version_back_and_their_cached_pass():
    model = rgb_cam_model()
    probe = ActivationProbe(model)
    first_weights = model.get_weights()
    first = probe.activations(IMAGE, "conv").copy()
    scaled(model, 2.0)
    np.testing.assert_allclose(probe.activations(IMAGE, "conv"), 2 * first, rtol=1e-6)
    assert probe.forward_passes == 2
    model.set_weights(first_weights)
    np.testing.assert_array_equal(probe.activations(IMAGE, "conv"), first)
    assert probe.forward_passes == 2  # served from the cache: those weights were seen before
    probe.weights.changed()  # after surgery the cache cannot vouch for anything
    probe.activations(IMAGE, "conv")
    assert probe.forward_passes == 3
