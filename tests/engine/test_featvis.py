"""Activation maximization: objectives by hand, rising objectives, batching, cancel, caching."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from convviz_widgets import zoo
from convviz_widgets.engine import featvis
from convviz_widgets.engine.featvis import (
    FFT,
    TUTORIAL,
    FeatureVisualizer,
    Jitter,
    PatternCache,
    Pixels,
    Rotate,
    Scale,
    channel,
    channels,
    neuron,
    neurons,
)
from convviz_widgets.engine.featvis.parameterizations import (
    COLOR_CORRELATION_SQRT,
    color_correlation_sqrt,
    spectrum_scale,
)
from convviz_widgets.engine.featvis.regularizers import L2, Blur, TotalVariation, blur

from tiny_models import featvis_model, featvis_nested_model

FEW = TUTORIAL.replace(steps=3)


def rises(visualizer: FeatureVisualizer, objective, settings) -> tuple[np.ndarray, np.ndarray]:
    """The objective of the starting images and of the images after the run, untransformed."""
    start = visualizer.initial_images(settings, objective.batch_size())
    result = visualizer.run(objective, settings)
    return visualizer.evaluate(objective, start), visualizer.evaluate(objective, result.images)


def test_channel_and_neuron_objectives_match_hand_computed_values():
    acts = tf.constant(np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2))
    # Channel c of image n holds 18 n + c + 2 (3 i + j): mean 18 n + c + 8, centre the same.
    np.testing.assert_allclose(channel("c", 1)({"c": acts}), [9.0, 27.0])
    np.testing.assert_allclose(neuron("c", 0)({"c": acts}), [8.0, 26.0])
    combined = 2 * channel("c", 1) - neuron("c", 0) + 0.5 * channel("c", 0)
    np.testing.assert_allclose(combined({"c": acts}), [2 * 9 - 8 + 4.0, 2 * 27 - 26 + 13.0])
    np.testing.assert_allclose(channels("c", [1, 0])({"c": acts}), [9.0, 26.0])
    corner = tf.constant(np.eye(4, dtype=np.float32)[None, :, :, None])  # 4×4: centre is (2, 2)
    np.testing.assert_allclose(neurons("c", [0])({"c": corner}), [1.0])
    assert str(combined) == ("2 * channel('c', 1) - 1 * neuron('c', 0) + 0.5 * channel('c', 0)")


def test_batch_objectives_must_agree_on_the_number_of_images():
    assert (channels("c", [0, 1]) + channel("d", 3)).batch == 2
    with pytest.raises(ValueError, match="same number of images"):
        channels("c", [0, 1]) + channels("c", [0, 1, 2])


def test_penalties_match_hand_computed_values():
    flat = tf.fill((1, 4, 4, 3), 0.75)
    assert float(L2().penalty(flat)[0]) == pytest.approx(0.0625)
    ramp = tf.constant(np.tile(np.arange(4, dtype=np.float32)[None, :, None], (4, 1, 3))[None])
    # Horizontal steps of 1 (12 of 12 pairs per row), no vertical change.
    assert float(TotalVariation().penalty(ramp)[0]) == pytest.approx(1.0)
    assert float(Blur().penalty(flat)[0]) == pytest.approx(0.0)
    spike = np.zeros((1, 5, 5, 1), np.float32)
    spike[0, 2, 2, 0] = 1.0
    image = tf.Variable(spike)
    with tf.GradientTape() as tape:
        penalty = Blur(sigma=1.0).penalty(image)
    step = -tape.gradient(penalty, image).numpy()
    toward = blur(tf.constant(spike), 1.0).numpy() - spike
    # Descending the penalty moves the image toward its blur.
    np.testing.assert_allclose(step / np.abs(step).max(), toward / np.abs(toward).max(),
                               atol=1e-6)


@pytest.mark.parametrize("parameterization", [Pixels(), FFT()], ids=["pixels", "fft"])
def test_three_steps_raise_the_objective_for_every_parameterization(parameterization):
    settings = FEW.replace(parameterization=parameterization,
                           step_size=1.0 if isinstance(parameterization, Pixels) else 0.05)
    before, after = rises(FeatureVisualizer(featvis_model()), channels("conv", [0, 1]), settings)
    assert (after > before).all(), (before, after)


@pytest.mark.parametrize("transform", [Jitter(2), Scale(0.9, 1.1), Rotate(10.0)],
                         ids=["jitter", "scale", "rotate"])
def test_three_steps_raise_the_objective_under_every_transform(transform):
    settings = FEW.replace(transforms=(transform,))
    before, after = rises(FeatureVisualizer(featvis_model()), channels("conv", [0, 1]), settings)
    assert (after > before).all(), (before, after)


@pytest.mark.parametrize("settings", [
    FEW.replace(steps=4, transforms=(Jitter(2), Rotate(10.0))),
    featvis.CLEAN.replace(steps=4),
], ids=["pixels+transforms", "clean"])
def test_a_batch_gives_each_filter_what_it_gets_alone(settings):
    visualizer = FeatureVisualizer(featvis_model())
    batched = visualizer.run(channels("conv", [1, 0]), settings)
    for row, index in enumerate([1, 0]):
        alone = visualizer.run(channel("conv", index), settings)
        np.testing.assert_allclose(batched.images[row], alone.images[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(batched.history[:, row], alone.history[:, 0], rtol=1e-4)
    assert visualizer.traces == 1  # one compiled step served batch sizes 2 and 1


def test_cancel_stops_before_the_next_step():
    visualizer = FeatureVisualizer(featvis_model())
    stop = threading.Event()
    seen = []
    for record in visualizer.steps(channel("conv", 0), TUTORIAL, cancel=stop):
        seen.append(record.step)
        if record.step == 2:
            stop.set()
    assert seen == [1, 2] and visualizer.step_calls == 2
    result = visualizer.run(channel("conv", 0), TUTORIAL, cancel=lambda: True)
    assert result.cancelled and result.history.shape == (0, 1) and visualizer.step_calls == 2


def test_max_steps_environment_variable_caps_the_run(monkeypatch):
    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "2")
    records = list(featvis.optimize_steps(featvis_model(), channel("conv", 0), TUTORIAL))
    assert [r.step for r in records] == [1, 2] and records[-1].steps == 2 and records[-1].done
    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "many")
    with pytest.raises(ValueError, match="CONVVIZ_MAX_STEPS='many' is not a whole number"):
        TUTORIAL.effective_steps  # noqa: B018


def test_dead_filters_are_flagged():
    result = FeatureVisualizer(featvis_model()).run(channels("conv", [0, 2]), FEW)
    assert result.dead.tolist() == [False, True]
    assert (result.history[:, 1] == 0).all() and (result.history[:, 0] > 0).all()


def test_disk_cache_serves_a_later_session_without_running_a_step(tmp_path):
    settings = FEW.replace(transforms=(Jitter(1),))
    computed = featvis.precompute(featvis_model(), "conv", [0, 2, 1], settings, tmp_path)
    assert [p.filter for p in computed] == [0, 2, 1] and [p.dead for p in computed] == [
        False, True, False]
    assert len(list(tmp_path.glob("*.npz"))) == 3
    later = featvis_model()  # a new session: same weights, a new model object
    updates = list(featvis.pattern_steps(later, "conv", [1, 0], settings,
                                         cache=PatternCache(tmp_path)))
    assert len(updates) == 1 and updates[0].record is None
    assert featvis.visualizer_for(later).step_calls == 0
    loaded = {p.filter: p for p in updates[0].finished}
    for pattern in computed:
        if pattern.filter in loaded:
            np.testing.assert_array_equal(loaded[pattern.filter].image, pattern.image)
            np.testing.assert_array_equal(loaded[pattern.filter].history, pattern.history)
    # Other settings (or other weights) are other keys: they run.
    changed = featvis_model()
    changed.get_layer("conv").bias.assign([0.0, 0.0, -2.0])
    assert PatternCache.key(changed, "conv", 0, settings) != PatternCache.key(later, "conv", 0,
                                                                            settings)


def test_memory_cache_hit_runs_no_step_and_streams_progress_first():
    model, cache = featvis_model(), PatternCache()
    updates = list(featvis.pattern_steps(model, "conv", [0, 1], FEW, cache=cache, batch_size=1))
    assert [u.filters for u in updates] == [(), (0,), (0,), (0,), (1,), (1,), (1,)]
    assert [len(u.finished) for u in updates] == [0, 0, 0, 1, 0, 0, 1]
    calls = featvis.visualizer_for(model).step_calls
    again = list(featvis.pattern_steps(model, "conv", [1, 0], FEW, cache=cache))
    assert len(again) == 1 and len(again[0].finished) == 2
    assert featvis.visualizer_for(model).step_calls == calls == 6


def test_truncated_step_never_calls_layers_after_the_target():
    model = featvis_model(tripwire=True)
    visualizer = FeatureVisualizer(model)
    visualizer.run(channels("conv", [0, 1]), FEW.replace(transforms=(Jitter(1),)))
    visualizer.run(channel("conv", 0), FEW.replace(dtype="bfloat16"))
    assert model.get_layer("tripwire").calls == 0


def test_the_users_model_is_unchanged():
    model = featvis_model()
    image = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 3)).astype(np.float32)
    weights, output = [w.copy() for w in model.get_weights()], model(image).numpy()
    visualizer = FeatureVisualizer(model)
    visualizer.run(channels("conv", [0, 1]), FEW)
    visualizer.run(channel("conv", 1), FEW.replace(dtype="bfloat16"))
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert not any("call" in vars(layer) for layer in model.layers)
    assert keras.config.dtype_policy().name == "float32"
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers)
    np.testing.assert_array_equal(model(image).numpy(), output)


def test_runs_are_deterministic_given_a_seed():
    settings = featvis.CLEAN.replace(steps=3)
    first = FeatureVisualizer(featvis_model()).run(channels("conv", [0, 1]), settings)
    second = FeatureVisualizer(featvis_model()).run(channels("conv", [0, 1]), settings)
    np.testing.assert_array_equal(first.images, second.images)
    other = FeatureVisualizer(featvis_model()).run(channels("conv", [0, 1]),
                                                   settings.replace(seed=1))
    assert not np.allclose(first.images, other.images)


def test_works_on_a_conv_inside_an_inner_model_inside_a_sequential():
    model = featvis_nested_model(tripwire=True)
    visualizer = FeatureVisualizer(model)
    before, after = rises(visualizer, channels("inner/conv", [0, 1]), FEW)
    assert (after > before).all()
    assert model.get_layer("inner").get_layer("tripwire").calls == 0


def test_tutorial_size_follows_the_model():
    anysize = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3)])
    assert FeatureVisualizer(anysize).image_shape(TUTORIAL) == (150, 150, 3)
    assert FeatureVisualizer(featvis_model()).image_shape("tutorial") == (8, 8, 3)
    start = FeatureVisualizer(featvis_model()).initial_images(TUTORIAL, 2)
    # S2's start: uniform[0, 1) × 20 + 128, the same noise for every image of a batch.
    assert start.min() >= 128 and start.max() < 148
    np.testing.assert_array_equal(start[0], start[1])


def test_unknown_layers_and_channels_raise_clear_errors():
    visualizer = FeatureVisualizer(featvis_model())
    with pytest.raises(ValueError, match="channel 3 is out of range for layer 'conv'"):
        visualizer.steps(channels("conv", [0, 3]))
    with pytest.raises(ValueError, match="no layer 'cnv'"):
        visualizer.steps(channel("cnv", 0))


def test_deprocess_image_is_chollets():
    x = np.array([[[0.0], [1.0]], [[2.0], [3.0]]], np.float32)  # mean 1.5, std √1.25
    std = np.sqrt(1.25)
    expected = np.clip((x - 1.5) / (std + 1e-5) * 0.1 + 0.5, 0, 1) * 255
    np.testing.assert_array_equal(featvis.deprocess_image(x), expected.astype(np.uint8))
    batch = featvis.deprocess_image(np.stack([x, 10 * x]))  # each image on its own statistics
    np.testing.assert_array_equal(batch[0], batch[1])


def test_fft_scale_gives_unit_pixel_variance_and_colour_matrix_is_re_derived():
    rng = np.random.default_rng(0)
    scale = spectrum_scale(32, 48)
    spectrum = (rng.normal(size=(200, 32, 25)) + 1j * rng.normal(size=(200, 32, 25))) * scale
    assert np.fft.irfft2(spectrum, s=(32, 48)).std() == pytest.approx(1.0, rel=0.1)
    photos = [zoo.load_image(name) for name in ("cat", "coffee", "astronaut", "rocket")]
    pixels = np.concatenate([p.reshape(-1, 3) for p in photos]) / 255.0
    np.testing.assert_allclose(color_correlation_sqrt(pixels), COLOR_CORRELATION_SQRT,
                               atol=1e-4)


def test_bfloat16_patterns_match_float32_on_the_shapes_model():
    model = zoo.load_model("shapes")
    settings = TUTORIAL.replace(steps=3)
    objective = channels("block2_conv1", range(4))
    visualizer = FeatureVisualizer(model)
    full = visualizer.run(objective, settings)
    half = visualizer.run(objective, settings.replace(dtype="bfloat16"))
    assert full.images.shape == (4, 64, 64, 3)
    for a, b in zip(full.images, half.images, strict=True):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
    np.testing.assert_allclose(half.history, full.history, rtol=0.05, atol=0.02)
    assert keras.config.dtype_policy().name == "float32"


def test_many_layers_and_models_trace_without_a_retracing_warning(caplog, monkeypatch):
    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "1")
    with caplog.at_level("WARNING", logger="tensorflow"):
        for _ in range(6):  # TensorFlow warns from the fifth trace of "one" function on
            featvis.visualize(featvis_model(), featvis.channels("conv", [0]))
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
