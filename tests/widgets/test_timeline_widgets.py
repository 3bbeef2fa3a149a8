"""Widgets on a recorded training: the epoch slider swaps weights into one model, every view
shows exactly what a fresh model with those weights shows, widgets on one timeline follow each
other, and a damaged checkpoint is one sentence."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convviz_widgets import CAMOverlay, FilterGallery, InvalidValue, LayerBrowser
from convviz_widgets.callbacks import CheckpointRecorder
from convviz_widgets.engine.timeline import Timeline

from tiny_models import small_classifier, small_training_data

IMAGE = (np.arange(8 * 8 * 3).reshape(8, 8, 3) * 7 % 256).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("recorded")
    model = small_classifier()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = small_training_data()
    model.fit(x, y, epochs=4, batch_size=16, verbose=0, validation_split=0.25,
              callbacks=[CheckpointRecorder(path)])
    return path


def fresh_at(timeline: Timeline, epoch: int):
    model = small_classifier()
    model.set_weights(timeline.weights(epoch))
    return model


def test_the_epoch_slider_shows_exactly_what_a_fresh_model_of_that_epoch_shows(folder):
    timeline = Timeline(folder)
    browser = LayerBrowser(timeline, image=IMAGE, layer="conv2", norm="layer")
    assert browser.epoch == 4 and browser.epoch_slider.options == (0, 1, 2, 3, 4)
    for epoch in (0, 2, 4, 1):
        browser.epoch_slider.value = epoch  # the control, as a user moves it
        assert browser.epoch == epoch == timeline.epoch
        fresh = LayerBrowser(fresh_at(timeline, epoch), image=IMAGE, layer="conv2", norm="layer")
        np.testing.assert_array_equal(browser.snapshot(), fresh.snapshot())
    overlay = CAMOverlay(timeline, image=IMAGE, target=1)
    for epoch in (0, 3):
        overlay.epoch = epoch
        fresh = CAMOverlay(fresh_at(timeline, epoch), image=IMAGE, target=1)
        np.testing.assert_array_equal(overlay.snapshot(), fresh.snapshot())
        np.testing.assert_allclose(overlay.bars.y, fresh.bars.y)


def test_widgets_on_one_timeline_follow_each_other(folder):
    timeline = Timeline(folder)
    browser = LayerBrowser(timeline, image=IMAGE, layer="conv")
    overlay = CAMOverlay(timeline, image=IMAGE)
    browser.epoch = 1
    assert overlay.epoch == 1 and overlay.epoch_slider.value == 1
    expected = CAMOverlay(fresh_at(timeline, 1), image=IMAGE, target=overlay.class_index)
    np.testing.assert_array_equal(overlay.snapshot(), expected.snapshot())


def test_the_training_curves_plot_every_logged_metric_and_a_click_jumps(folder):
    browser = LayerBrowser(Timeline(folder), image=IMAGE)
    labels = {line.labels[0] for line in browser.metrics_chart.marks
              if getattr(line, "labels", None)}
    assert labels >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    browser._on_metrics_click(None, {"data": {"index": 2}})
    assert browser.epoch == 2 and list(browser._epoch_marker.x) == [2.0, 2.0]


def test_a_gallery_shows_every_epochs_kernels_at_once(folder):
    timeline = Timeline(folder)
    gallery = FilterGallery(timeline, layer="conv", mode="weights by epoch", tile=8)
    rows = len(timeline.epochs)
    picture = gallery.snapshot()
    assert picture.shape[:2] == (rows * 9 - 1, 4 * 9 - 1)  # 5 epochs × 4 filters of 8 px
    for row, epoch in enumerate(timeline.epochs):
        one = FilterGallery(fresh_at(timeline, epoch), layer="conv", mode="weights", tile=8)
        np.testing.assert_array_equal(picture[row * 9 : row * 9 + 8], one.snapshot())
    gallery._on_grid_click(9 * 2 + 1, 9 * 3 + 1)  # row 3, column 2: filter 2 (any epoch)
    assert gallery.filter == 2
    plain = FilterGallery(small_classifier(), layer="conv", mode="weights")
    with pytest.raises(InvalidValue, match="needs a recorded training"):
        plain.mode = "weights by epoch"


def test_an_unreadable_checkpoint_is_one_sentence_and_the_slider_keeps_working(folder,
                                                                              tmp_path):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    (damaged / "weights-e00002.npz").write_bytes(b"not a checkpoint")
    browser = LayerBrowser(Timeline(damaged), image=IMAGE, layer="conv")
    with pytest.raises(InvalidValue, match=r"epoch 2 \(weights-e00002\.npz\) cannot be read"):
        browser.epoch = 2
    assert "cannot be read" in browser.status
    browser.epoch_slider.value = 2  # as a user moves it there
    # The slider goes back to the epoch shown and no longer offers the damaged one.
    assert browser.epoch == browser.epoch_slider.value == browser.timeline.epoch == 4
    assert browser.epoch_slider.options == (0, 1, 3, 4)
    browser.epoch = 3
    assert "⚠" not in browser.status_line.value and browser.timeline.epoch == 3
    with pytest.raises(InvalidValue, match=r"no checkpoint at epoch 7; its epochs are 0, 1, 3, 4"):
        browser.epoch = 7


def test_a_timeline_of_another_model_is_refused(folder):
    with pytest.raises(ValueError, match="timeline= must hold the widget's model"):
        LayerBrowser(small_classifier(), image=IMAGE, timeline=Timeline(folder))


def test_patterns_are_computed_per_epoch_and_found_again(folder, monkeypatch):
    monkeypatch.setenv("CONVVIZ_MAX_STEPS", "2")
    gallery = FilterGallery(Timeline(folder), layer="conv", page_size=4, tile=8)
    gallery.run(wait=True)
    at_four = [gallery.pattern(f) for f in range(4)]
    assert all(p is not None for p in at_four)
    gallery.epoch = 0  # other weights: other patterns, not computed yet
    assert all(gallery.pattern(f) is None for f in range(4))
    assert "0/4 patterns ready" in gallery.status
    gallery.run(wait=True)
    assert not np.array_equal(gallery.pattern(0).image, at_four[0].image)
    gallery.epoch = 4  # back: the patterns of epoch 4 come from the cache
    assert [gallery.pattern(f) for f in range(4)] == at_four
