"""Recording a training run and reading it back: what the callback writes, what survives an
interruption or a damaged file, and one model whose weights are swapped without retracing."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from convviz_widgets.callbacks import CheckpointRecorder
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.timeline import MANIFEST, Timeline

from tiny_models import nested_model, small_classifier, small_training_data

IMAGE = (np.arange(8 * 8 * 3).reshape(8, 8, 3) % 256).astype(np.uint8)


def train(folder, epochs: int = 4, **recorder):
    model = small_classifier()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = small_training_data()
    recording = CheckpointRecorder(folder, **recorder)
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, validation_split=0.25,
              callbacks=[recording])
    return model, recording


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    model, recording = train(folder)
    return folder, model, recording


def test_the_recorder_writes_weights_and_metrics_of_every_epoch(recorded):
    folder, model, _ = recorded
    manifest = json.loads((folder / MANIFEST).read_text())
    assert [c["epoch"] for c in manifest["checkpoints"]] == [0, 1, 2, 3, 4]
    assert [c["step"] for c in manifest["checkpoints"]] == [0, 3, 6, 9, 12]  # 48 images / 16
    assert manifest["checkpoints"][0]["metrics"] == {}
    assert set(manifest["checkpoints"][-1]["metrics"]) >= {"loss", "accuracy", "val_loss",
                                                           "val_accuracy"}
    assert [w["shape"] for w in manifest["model"]["weights"]] == [
        list(w.shape) for w in model.weights]
    timeline = Timeline(folder)
    for got, want in zip(timeline.weights(4), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)  # the last checkpoint is the trained model
    first, last = timeline.weights(0), timeline.weights(4)
    assert not np.array_equal(first[0], last[0])
    assert sorted(p.name for p in folder.iterdir()) == [
        MANIFEST, *(f"weights-e0000{e}.npz" for e in range(5))]


def test_showing_an_epoch_equals_a_fresh_model_with_those_weights(recorded):
    folder, _, _ = recorded
    timeline = Timeline(folder)  # rebuilt from the recorded architecture, safely
    probe = ActivationProbe(timeline.model)
    for epoch in (0, 3, 1):
        timeline.show(epoch)
        fresh = small_classifier()
        fresh.set_weights(timeline.weights(epoch))
        np.testing.assert_array_equal(probe.activations(IMAGE, "conv2"),
                                      ActivationProbe(fresh).activations(IMAGE, "conv2"))
        np.testing.assert_allclose(probe.cam(IMAGE, "conv2", 0).map,
                                   ActivationProbe(fresh).cam(IMAGE, "conv2", 0).map, atol=1e-6)


def test_twenty_epoch_switches_rebuild_nothing_and_trace_nothing_again(recorded):
    folder, _, _ = recorded
    timeline = Timeline(folder)
    model = timeline.model
    probe = ActivationProbe(model)
    timeline.show(0)
    probe.activations(IMAGE, "conv")
    probe.cam(IMAGE, "conv2", 1)
    extractor = probe._extractor
    gradients = probe.explainer().layer_gradients._functions["logit"]
    traces = (extractor.experimental_get_tracing_count(),
              gradients.experimental_get_tracing_count())
    passes = probe.forward_passes
    for switch in range(20):
        timeline.show(timeline.epochs[switch % 5])
        probe.activations(IMAGE, "conv")
        probe.cam(IMAGE, "conv2", 1)
    assert timeline.model is model and probe._extractor is extractor
    assert (extractor.experimental_get_tracing_count(),
            gradients.experimental_get_tracing_count()) == traces
    assert probe.forward_passes == passes + 4  # epochs 1–4 once each; then all from the caches


def test_float16_checkpoints_are_half_the_size_and_three_digits_close(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(64, 3),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = small_training_data()
    recorders = {dtype: CheckpointRecorder(tmp_path / dtype, dtype=dtype)
                 for dtype in ("float32", "float16")}
    model.fit(x, y, epochs=1, verbose=0, callbacks=list(recorders.values()))
    assert recorders["float16"].bytes_written < 0.52 * recorders["float32"].bytes_written
    full, half = Timeline(tmp_path / "float32"), Timeline(tmp_path / "float16")
    for got, want in zip(half.weights(1), full.weights(1), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-4)


def test_every_n_epochs_or_a_chosen_list_and_batches(tmp_path):
    train(tmp_path / "every", epochs=5, every=2)
    assert Timeline(tmp_path / "every").epochs == [0, 2, 4, 5]  # the end is always kept
    recorder = CheckpointRecorder(tmp_path / "list", epochs=[1, 3])
    model = small_classifier()
    model.compile("sgd", "categorical_crossentropy")
    x, y = small_training_data()
    model.fit(x, y, epochs=4, verbose=0, batch_size=16, callbacks=[recorder])
    assert Timeline(tmp_path / "list").epochs == [0, 1, 3]
    train(tmp_path / "batches", epochs=1, unit="batch", every=2)
    assert [c.step for c in Timeline(tmp_path / "batches").checkpoints] == [0, 2]


def test_fit_called_once_per_epoch_is_one_run(tmp_path):
    model = small_classifier()
    model.compile("sgd", "categorical_crossentropy")
    x, y = small_training_data()
    recorder = CheckpointRecorder(tmp_path)
    for _ in range(3):
        model.fit(x, y, epochs=1, verbose=0, batch_size=16, callbacks=[recorder])
    assert Timeline(tmp_path).epochs == [0, 1, 2, 3]


def test_an_interrupted_run_leaves_a_folder_listing_only_complete_checkpoints(tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    model = small_classifier()
    model.compile("sgd", "categorical_crossentropy")
    x, y = small_training_data()
    (tmp_path / ".weights-e00009.npz.1234.tmp").write_bytes(b"half a file")  # a crash mid-write
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=10, verbose=0, callbacks=[CheckpointRecorder(tmp_path), Interrupt()])
    timeline = Timeline(tmp_path)  # the recorder had written epoch 3 when the run was stopped
    assert timeline.epochs == [0, 1, 2, 3]
    timeline.show(3)
    np.testing.assert_array_equal(timeline.model.get_weights()[0], model.get_weights()[0])


def test_a_damaged_checkpoint_is_left_out_with_a_sentence_and_the_others_scrub(tmp_path):
    train(tmp_path, epochs=3)
    (tmp_path / "weights-e00002.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "weights-e00001.npz").unlink()
    timeline = Timeline(tmp_path)
    with pytest.raises(ValueError, match=r"^the checkpoint of epoch 2 \(weights-e00002\.npz\) "
                                         r"cannot be read .*; it is left out\.$"):
        timeline.show(2)
    with pytest.raises(ValueError, match="epoch 1"):
        timeline.show(1)
    assert timeline.epochs == [0, 3] and set(timeline.skipped) == {1, 2}
    timeline.show(3)
    timeline.show(0)
    assert timeline.epoch == 0


def test_folders_that_are_not_timelines_and_other_architectures_are_one_sentence(recorded,
                                                                                tmp_path):
    folder, _, _ = recorded
    with pytest.raises(ValueError, match=r"^no timeline folder at .*; record one with "):
        Timeline(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"is not a timeline: it has no manifest\.json"):
        Timeline(tmp_path)
    (tmp_path / MANIFEST).write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="is not a convviz timeline manifest"):
        Timeline(tmp_path)
    (tmp_path / MANIFEST).write_text('{"format": "convviz-timeline", "version": 1, '
                                     '"checkpoints": []}')
    with pytest.raises(ValueError, match="holds no checkpoint yet"):
        Timeline(tmp_path)
    with pytest.raises(ValueError, match=r"not the recorded one: the first difference is "
                                         r"'mix/kernel': shape \(1, 1, 3, 2\) where the "
                                         r"recording has \(3, 3, 3, 4\) \('conv/kernel'\)"):
        Timeline(folder, model=nested_model())


def test_a_lambda_in_the_recorded_architecture_is_never_run(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.Conv2D(2, 3, name="conv")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 8, 8, 3)), np.zeros((4, 2)), verbose=0,
              callbacks=[CheckpointRecorder(tmp_path)])
    with pytest.raises(ValueError, match=r"cannot be rebuilt safely .*; pass the model"):
        Timeline(tmp_path)
    assert Timeline(tmp_path, model=model).epochs == [0, 1]
