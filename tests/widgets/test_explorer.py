"""Explorer: the views share one state, the card and the ranking equal the engine's answers
(computed here on a probe of its own), and what is sent is what the index holds."""

from __future__ import annotations

import html
import time

import numpy as np
import pytest
from PIL import Image

from convviz_widgets import Explorer, zoo
from convviz_widgets.engine.contributions import channel_contributions
from convviz_widgets.engine.examples import build_index
from convviz_widgets.engine.gradients import LayerGradients
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.render import decode_png
from convviz_widgets.widgets.filter_gallery import fit_tile

IMAGES = 48


@pytest.fixture(scope="module")
def model():
    return zoo.load_model("shapes")


@pytest.fixture(scope="module")
def images():
    return zoo.shapes_dataset(IMAGES, seed=1)[0]


@pytest.fixture(scope="module")
def explorer(model, images):
    explorer = Explorer(model, image="star", dataset=images,
                        class_names=zoo.class_names("shapes"), k=4)
    explorer.wait(120)
    return explorer


def expected_ranking(model, image, layer: str, cls: int) -> list[int]:
    """The channels by contribution, from a probe and gradients of their own."""
    found = channel_contributions(LayerGradients(ActivationProbe(model)), image, layer, cls)
    return found.order().tolist()


def test_the_index_is_built_in_the_background_and_the_card_shows_its_examples(explorer, model,
                                                                            images):
    assert explorer.index is not None and explorer.index.complete
    assert explorer.index.seen == IMAGES
    explorer.layer, explorer.channel = "block2_conv1", 3
    by_hand = build_index(model, images, ["block2_conv1"], k=4)
    found = by_hand.examples("block2_conv1", 3)
    sent = decode_png(explorer.examples_view.png)
    tiles = [fit_tile(e.crop, 64) for e in found]
    for i, tile in enumerate(tiles):  # 64-pixel tiles, 2-pixel gaps, one row
        np.testing.assert_array_equal(sent[:, i * 66 : i * 66 + 64], tile)
    assert f"#{found[0].image} " in explorer.examples_note.value


def test_selecting_a_channel_anywhere_moves_every_view(explorer):
    explorer.layer = "block3_conv1"
    explorer.browser.channel = 7  # a tile click or the , . keys in the grid
    assert explorer.channel == 7
    assert "block3_conv1 · channel 7" in explorer.card_title.value
    explorer.channel = 9
    assert explorer.browser.channel == 9
    assert explorer.cam.layer == "block3_conv1"


def test_a_ranking_bar_click_selects_the_channel_it_shows(explorer, model):
    explorer.layer, explorer.class_index = "block4_conv2", 3
    ranked = expected_ranking(model, zoo.load_image("star"), "block4_conv2", 3)
    assert explorer.ranking_bars.x[:5].tolist() == [str(c) for c in ranked[:5]]
    explorer._on_ranking_click(None, {"data": {"index": 2}})  # bqplot's click message
    assert explorer.channel == ranked[2] and explorer.browser.channel == ranked[2]
    colours = explorer.ranking_bars.color.tolist()
    assert colours[2] == 1.0 and sum(colours) == 1.0  # the selected bar is marked


def test_a_class_bar_click_changes_the_ranking_to_that_class(explorer, model):
    explorer.layer, explorer.class_index = "block4_conv2", 3
    before = explorer.ranking_bars.x.tolist()
    top = explorer.cam._top
    explorer.cam._on_bar_click(None, {"data": {"index": 1}})  # the second class bar
    assert explorer.class_index == top[1]
    ranked = expected_ranking(model, zoo.load_image("star"), "block4_conv2", top[1])
    shown = explorer.ranking_bars.x.tolist()
    assert shown[:10] == [str(c) for c in ranked[:10]] and shown != before
    assert zoo.class_names("shapes")[top[1]] in explorer.ranking_chart.title


def test_the_contribution_line_states_the_engines_numbers(explorer, model):
    explorer.layer, explorer.class_index, explorer.channel = "block4_conv2", 3, 11
    found = channel_contributions(LayerGradients(ActivationProbe(model)),
                                  zoo.load_image("star"), "block4_conv2", 3)
    line = explorer.contribution_line.value
    assert f"α = {found.weights[11]:.3g}" in line
    assert f"activation = {found.contributions[11]:.3g}" in line
    assert f"rank {found.rank(11)} of 64" in line


def test_pool_layers_show_their_card_without_a_contribution(explorer):
    explorer.layer = "block1_pool"
    assert "pool layers are not explained" in explorer.contribution_line.value
    assert "block1_pool · channel" in explorer.card_title.value
    assert "not in the index" in explorer.examples_note.value
    explorer.layer = "block4_conv2"


def test_bad_values_are_one_sentence_and_the_explorer_stays_usable(explorer):
    explorer.layer = "block1_conv1"
    with pytest.raises(Exception, match="out of range"):
        explorer.channel = 99
    assert explorer.status == ("Channel 99 is out of range: 'block1_conv1' has 16 channels (0 to "
                               "15).")
    explorer.channel = 2
    assert explorer.status.startswith("block1_conv1 · channel 2")


def test_a_prepared_index_opens_without_a_data_set(model, images, tmp_path):
    prepared = build_index(model, images[:16], ["block4_conv2"], k=2, folder=tmp_path / "index")
    with pytest.raises(ValueError, match=r"^give either a prepared index or a data set"):
        Explorer(model, image="circle", dataset=images, index=prepared)
    explorer = Explorer(model, image="circle", index=tmp_path / "index")
    explorer.layer, explorer.channel = "block4_conv2", 0
    assert explorer.index.seen == 16 and "images, by their maximum: #" in \
        explorer.examples_note.value
    explorer.layer = "block1_conv1"
    assert "block1_conv1 is not in the index" in explorer.examples_note.value


def test_the_pattern_is_computed_once_then_found_in_the_cache(explorer):
    explorer.layer, explorer.channel = "block1_conv1", 5
    for _ in range(600):
        if explorer.pattern_view.png and not explorer._pattern_busy:
            break
        time.sleep(0.1)
    first = explorer.pattern_view.png
    assert first and decode_png(first).std() > 0  # a pattern, not the grey placeholder
    explorer.channel = 6
    explorer.channel = 5
    assert explorer.pattern_view.png == first


def test_a_ranked_channel_on_another_page_turns_the_grid_to_it(explorer):
    explorer.layer, explorer.class_index = "block4_conv2", 3
    explorer.browser.page = 0
    far = next(i for i, c in enumerate(explorer._ranked) if c >= 16)
    channel = explorer._ranked[far]
    explorer._on_ranking_click(None, {"data": {"index": far}})
    assert explorer.channel == channel and explorer.browser.page == channel // 16
    assert channel in explorer.browser.page_channels().tolist()


def test_indexing_shows_progress_and_cancel_keeps_what_was_indexed(model):
    images = zoo.shapes_dataset(1024, seed=2)[0]
    seen = []
    explorer = Explorer(model, image="star", dataset=images, k=2)
    explorer.progress.observe(lambda change: seen.append(change["new"]), "value")
    while not seen:
        time.sleep(0.01)
    explorer.cancel()  # the Cancel button
    explorer.wait(60)
    index = explorer.index
    assert index is not None and not index.complete and 0 < index.seen < len(images)
    assert seen == sorted(seen) and seen[-1] == index.seen and explorer.progress.max == 1024
    assert explorer.index_box.layout.display == "none"
    explorer.layer = "block4_conv2"
    assert f"indexing stopped after {index.seen} images" in explorer.examples_note.value


def test_a_new_image_is_read_once_for_every_view(explorer, monkeypatch):
    from convviz_widgets.engine import probe as probe_module

    reads = []
    original = probe_module.prepare_image
    monkeypatch.setattr(probe_module, "prepare_image",
                        lambda *args, **kwargs: reads.append(1) or original(*args, **kwargs))
    explorer.image = "circle"
    assert len(reads) == 1
    assert explorer.browser.snapshot().shape[0] > 0 and "circle" in explorer.cam.status
    explorer.image = "star"


def test_a_bad_image_is_one_sentence_and_the_explorer_keeps_its_own(explorer):
    explorer.image = "star"
    before = explorer.channel_view.png
    with pytest.raises(Exception, match="image"):
        explorer.image = np.zeros(3)
    assert explorer.status.startswith("An image must have shape (height, width, channels)")
    assert explorer.channel_view.png == before
    explorer.channel = (explorer.channel + 1) % 16  # still usable
    assert "channel" in explorer.status and explorer.status[0].islower()


def test_explorer_on_a_nested_model():
    from tiny_models import nested_model

    model = nested_model()
    images = (np.random.default_rng(0).random((12, *model.input_shape[1:])) * 255).astype(
        np.uint8)
    explorer = Explorer(model, image=images[0], dataset=images, k=2)
    explorer.wait(60)
    assert explorer.index.complete
    assert list(explorer.index.layers) == [i.path for i in explorer.cam.explainer.layers]
    assert any(path.startswith("inner/") for path in explorer.index.layers)  # inside the nest
    explorer.channel = 1
    assert "channel 1" in explorer.card_title.value and explorer.examples_view.png


def test_a_data_set_it_cannot_index_is_one_sentence_and_the_explorer_keeps_working(model,
                                                                                   tmp_path):
    empty, broken = tmp_path / "empty", tmp_path / "broken"
    empty.mkdir()
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a picture")
    (broken / "b.jpg").write_bytes(b"")
    for folder, sentence in ((empty, "holds no image files"),
                             (broken, "None of the data set's 2 files could be read as an image")):
        explorer = Explorer(model, image="star", dataset=folder)
        explorer.wait(60)
        assert sentence in explorer.status and "\n" not in explorer.status
        assert explorer.index is None
        explorer.layer, explorer.channel = "block4_conv2", 3  # still usable
        assert explorer.status.startswith("block4_conv2 · channel 3")
        note = html.unescape(explorer.examples_note.value)
        assert note.startswith("no index: ") and sentence in note


def test_unreadable_files_are_skipped_and_said(model, images, tmp_path):
    for i in range(3):
        Image.fromarray(images[i]).save(tmp_path / f"{i}.png")
    (tmp_path / "3.png").write_bytes(b"not a picture")
    explorer = Explorer(model, image="star", dataset=tmp_path, k=2)
    explorer.wait(60)
    assert (explorer.index.seen, explorer.index.skipped) == (3, 1)
    assert explorer.status.startswith("Skipped 1 file that could not be read; 3 images indexed")
    explorer.layer, explorer.channel = "block4_conv2", 1
    assert "(1 file could not be read)" in explorer.examples_note.value
