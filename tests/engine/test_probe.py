"""ActivationProbe: exact activations, one forward pass for every layer, nested models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets.engine.layer_edits import capture_outputs
from convviz_widgets.engine.probe import ActivationProbe, shared_probe

from tiny_models import nested_model, ones_conv_model

RAMP = np.arange(16, dtype=np.uint8).reshape(4, 4)  # a grayscale image: x[i, j] = 4 i + j


def hand_conv(x: np.ndarray) -> np.ndarray:
    return x[:-1, :-1] + x[:-1, 1:] + x[1:, :-1] + x[1:, 1:]


def test_conv_activations_equal_hand_computed_sums_on_ones_kernel():
    probe = ActivationProbe(ones_conv_model())
    maps = probe.activations(RAMP, "conv")
    assert maps.dtype == np.float32 and maps.shape == (3, 3, 1)
    np.testing.assert_array_equal(maps[:, :, 0], hand_conv(RAMP.astype(np.float32)))
    # conv = [[10, 14, 18], [26, 30, 34], [42, 46, 50]]; 2×2 max pool (valid) keeps 30.
    np.testing.assert_array_equal(probe.activations(RAMP, "pool")[:, :, 0], [[30.0]])


def test_prediction_comes_from_the_same_pass():
    probe = ActivationProbe(ones_conv_model())
    np.testing.assert_allclose(probe.predict(RAMP), [30.0, 31.0])
    assert probe.forward_passes == 1


def test_one_forward_pass_serves_every_layer_and_scrubbing_never_reruns():
    probe = ActivationProbe(ones_conv_model())
    for _ in range(3):
        for info in probe.layers:
            probe.outputs(RAMP, info.path)
        probe.predict(RAMP)
    assert probe.forward_passes == 1
    assert probe.cache.hits >= 9


def test_equal_content_hits_the_cache_and_new_content_runs_once_more():
    probe = ActivationProbe(ones_conv_model())
    probe.activations(RAMP, "conv")
    probe.activations(RAMP.copy(), "conv")  # another array object, same pixels
    assert probe.forward_passes == 1
    probe.activations(RAMP + 1, "conv")
    assert probe.forward_passes == 2


def test_cache_budget_evicts_the_least_recent_image():
    probe = ActivationProbe(ones_conv_model(), cache_bytes=1)  # keeps one record at a time
    probe.run(RAMP)
    probe.run(RAMP + 1)
    probe.run(RAMP)
    assert probe.forward_passes == 3 and len(probe.cache) == 1


def test_preprocess_feeds_the_model_but_not_the_display():
    probe = ActivationProbe(ones_conv_model(), preprocess=lambda batch: batch * 2.0)
    record = probe.run(RAMP)
    np.testing.assert_array_equal(record.outputs["conv"][:, :, 0], 2 * hand_conv(RAMP * 1.0))
    np.testing.assert_array_equal(record.image.display[:, :, 0], RAMP)


def test_nested_model_layers_have_paths_and_exact_values():
    probe = ActivationProbe(nested_model())
    assert [info.path for info in probe.layers] == ["inner/mix", "inner/relu", "gap", "score"]
    assert [info.kind for info in probe.layers] == ["conv", "activation", "pool", "dense"]
    image = np.zeros((3, 3, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 7, 3
    mix = probe.activations(image, "inner/mix")
    np.testing.assert_allclose(mix[0, 0], [13.0, 3.0])  # r + b, g - b - 1
    np.testing.assert_allclose(probe.activations(image, "relu")[1, 2], [13.0, 3.0])
    np.testing.assert_allclose(probe.predict(image), [16.0])
    assert probe.forward_passes == 1


def test_vgg16_base_inside_a_sequential_matches_the_inner_model():
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    model = keras.Sequential([keras.Input((32, 32, 3)), base,
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)])
    probe = ActivationProbe(model)
    paths = [info.path for info in probe.spatial_layers]
    assert "vgg16/block5_conv3" in paths and paths[0] == "vgg16/block1_conv1"
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    reference = keras.Model(base.input, base.get_layer("block3_conv2").output)
    expected = reference(image[None].astype("float32"), training=False).numpy()[0]
    np.testing.assert_allclose(probe.activations(image, "vgg16/block3_conv2"), expected,
                               rtol=1e-5, atol=1e-5)
    expected_scores = model(image[None].astype("float32")).numpy()[0]
    np.testing.assert_allclose(probe.predict(image), expected_scores, rtol=1e-5, atol=1e-5)


def test_the_users_model_is_not_modified():
    model = ones_conv_model()
    weights = [w.copy() for w in model.get_weights()]
    ActivationProbe(model).run(RAMP)
    assert not any("call" in vars(layer) for layer in model.layers)
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_capture_restores_every_layer_when_the_call_raises():
    probe = ActivationProbe(ones_conv_model())
    with pytest.raises(RuntimeError, match="boom"), capture_outputs(probe.layers):
        raise RuntimeError("boom")
    assert not any("call" in vars(info.layer) for info in probe.layers)


def test_dense_layer_asked_for_a_grid_raises_a_clear_error():
    probe = ActivationProbe(ones_conv_model())
    with pytest.raises(ValueError, match=r"'dense'.*not feature maps.*choose a conv or pool"):
        probe.activations(RAMP, "dense")


def test_unknown_layer_suggests_close_names_or_lists_the_layers():
    probe = ActivationProbe(ones_conv_model())
    with pytest.raises(ValueError,
                       match=r"^the model has no layer 'convv'; did you mean 'conv'\?$"):
        probe.layer("convv")
    # The message names what every user has (the list itself), not an attribute of a probe.
    with pytest.raises(ValueError, match=r"no layer 'x'; its layers are conv, pool, flatten, "
                                         r"dense\.$"):
        probe.layer("x")


def test_subclassed_model_works_with_an_input_shape():
    class TwoConvs(keras.Model):
        def __init__(self):
            super().__init__()
            self.first = keras.layers.Conv2D(2, 3, padding="same", name="first")
            self.second = keras.layers.Conv2D(3, 3, padding="same", name="second")

        def call(self, x):
            return self.second(self.first(x))

    model = TwoConvs()
    image = np.random.default_rng(1).random((8, 8, 3)).astype("float32")
    expected_first = model.first(image[None] * 255.0).numpy()[0]
    probe = ActivationProbe(model, input_shape=(8, 8, 3))
    assert [(i.path, i.output_shape) for i in probe.layers] == [("first", (8, 8, 2)),
                                                                ("second", (8, 8, 3))]
    np.testing.assert_allclose(probe.activations(image, "first"), expected_first, rtol=1e-5)


@pytest.mark.parametrize(
    ("make_model", "message"),
    [
        (lambda: "not a model", "expected a Keras 3 model"),
        (lambda: keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)]), "not images"),
    ],
)
def test_models_we_cannot_handle_are_refused_with_a_reason(make_model, message):
    with pytest.raises(ValueError, match=message):
        ActivationProbe(make_model())


def test_multi_input_models_are_refused_with_a_reason():
    a, b = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    model = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="2 inputs"):
        ActivationProbe(model)


def test_multi_output_models_serve_feature_maps_and_ask_which_output_to_explain():
    image = keras.Input((8, 8, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(image))
    main = keras.layers.Dense(3, activation="softmax", name="main")(features)
    aux = keras.layers.Dense(2, activation="sigmoid", name="aux")(features)
    model = keras.Model(image, [main, aux])
    probe = ActivationProbe(model)
    picture = np.ones((8, 8, 3), np.float32)
    assert probe.activations(picture, "conv").shape == (6, 6, 4)
    assert probe.predict(picture, "aux").shape == (2,)
    batch = probe.model_input(probe.prepare(picture))
    np.testing.assert_allclose(probe.predict(picture, 0), model(batch)[0][0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"2 outputs; pass output= one of 0 \('main'\), "
                                         r"1 \('aux'\)"):
        probe.cam(picture, "conv", 0)
    main_only = ActivationProbe(keras.Model(model.inputs, model.outputs[0]))
    for output in (0, "main"):
        np.testing.assert_allclose(probe.cam(picture, "conv", 1, output=output).map,
                                   main_only.cam(picture, "conv", 1).map, atol=1e-6)
    assert probe.head("aux").squashing == "sigmoid" and probe.head("main").units == 3
    with pytest.raises(ValueError, match="no output 'box'"):
        probe.cam(picture, "conv", 0, output="box")


def test_widgets_share_one_probe_per_model():
    model = ones_conv_model()
    assert shared_probe(model) is shared_probe(model)
    assert shared_probe(model) is not shared_probe(model, preprocess=np.negative)


def test_channel_stats_are_computed_once_per_image_and_layer():
    probe = ActivationProbe(ones_conv_model())
    stats = probe.channel_stats(RAMP, "conv")
    assert (stats.low[0], stats.high[0], stats.mean[0]) == (10.0, 50.0, 30.0)
    assert probe.channel_stats(RAMP.copy(), "conv") is stats


def test_a_shared_probe_is_shared_while_held_and_freed_after():
    import gc
    import weakref

    model = ones_conv_model()
    probe = shared_probe(model)
    assert shared_probe(model) is probe
    assert shared_probe(model, preprocess=np.sqrt) is not probe
    probe.activations(np.ones((4, 4), np.uint8), "conv")
    gone = weakref.ref(probe)
    del probe
    gc.collect()
    assert gone() is None, "the registry must not keep probes (and their models) alive"


def test_two_threads_editing_the_same_layers_do_not_see_each_others_edits():
    import threading

    model = ones_conv_model()
    probe = ActivationProbe(model)
    inside, release, finished, errors = (threading.Event(), threading.Event(),
                                         threading.Event(), [])
    seen: dict[str, list] = {}

    def first():
        with capture_outputs(probe.layers) as captured:
            inside.set()
            release.wait(10)
            model(RAMP[None, :, :, None].astype("float32"))
            seen["first"] = sorted(captured)

    def second():
        try:
            with capture_outputs(probe.layers[:1]) as captured:
                model(RAMP[None, :, :, None].astype("float32"))
                seen["second"] = sorted(captured)
        except Exception as err:
            errors.append(err)
        finished.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inside.wait(10)
    threads[1].start()
    assert finished.wait(10), "the second thread must not wait for the first one's block"
    release.set()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert seen == {"first": ["conv", "dense", "flatten", "pool"], "second": ["conv"]}
    assert all("call" not in vars(info.layer) for info in probe.layers)
