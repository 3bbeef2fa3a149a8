"""LayerBrowser without a browser: traits, controls, errors, and what crosses the wire."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar

import comm
import matplotlib
import numpy as np
import pytest
from traitlets import TraitError

from convviz_widgets import LayerBrowser, zoo
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.render import decode_png

from tiny_models import nested_model, numbered_channels_model, ones_conv_model

# FileUpload values carry a datetime, as ipywidgets 8 deserializes them from the page.
UPLOAD_TIME = datetime(2026, 1, 1, tzinfo=timezone.utc)


class RecordingComm(comm.DummyComm):
    sent: ClassVar[list[tuple[str, dict, list]]] = []

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        RecordingComm.sent.append((msg_type, data or {}, list(buffers or [])))


@pytest.fixture
def wire(monkeypatch):
    """Every message the widgets publish, as (msg_type, data, buffers)."""
    RecordingComm.sent = []
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return RecordingComm.sent


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


def sent_pngs(messages) -> list[bytes]:
    return [bytes(b) for _, data, buffers in messages for b in buffers
            if bytes(b[:8]) == b"\x89PNG\r\n\x1a\n"]


def test_setting_the_layer_trait_moves_the_controls_and_sends_a_new_grid(shapes_model, wire):
    browser = LayerBrowser(shapes_model, image="star")
    first = browser.snapshot()
    wire.clear()
    browser.layer = "block2_conv1"
    # block1_conv1, block1_conv2, block1_pool, block2_conv1: the Rescaling layer is not listed
    assert browser.layer_slider.value == 3
    assert browser.layer_picker.value == "block2_conv1"
    assert "32×32×32" in browser.status
    pngs = sent_pngs(wire)
    assert len(pngs) == 1, "one new picture per update"
    np.testing.assert_array_equal(decode_png(pngs[0]), browser.snapshot())
    # 16 channels of 64×64 before, 32 of 32×32 now: 2 rows of 8 tiles of 79 pixels, then 4.
    assert first.shape == (2 * 80 - 1, 8 * 80 - 1, 3)
    assert browser.snapshot().shape == (4 * 80 - 1, 8 * 80 - 1, 3)


def test_moving_the_slider_sets_the_trait(shapes_model):
    browser = LayerBrowser(shapes_model, image="circle")
    browser.layer_slider.value = 4
    assert browser.layer == "block2_conv2"
    browser.page_slider.value = 0
    browser.cmap_picker.value = "gray"
    assert browser.cmap == "gray"
    browser.norm_picker.value = "symmetric"
    assert browser.norm == "symmetric"


def test_paging_through_a_wide_layer(shapes_model):
    browser = LayerBrowser(shapes_model, image="star", layer="block3_conv1", page_size=16)
    assert browser.page_count == 4 and browser.page_slider.max == 3
    browser.page = 2
    assert browser.page_channels().tolist() == list(range(32, 48))
    browser.page = 99
    assert browser.page == 3  # clamped
    browser.layer = "block1_conv1"  # 16 channels: a single page
    assert browser.page == 0 and browser.page_slider.max == 0


def test_scrubbing_fifty_views_runs_the_network_once(shapes_model):
    browser = LayerBrowser(shapes_model, image="triangle")
    passes = browser.probe.forward_passes
    cmaps, norms = ["viridis", "magma", "gray"], ["channel", "layer", "symmetric"]
    for i in range(50):
        browser.layer = browser.probe.spatial_layers[i % 9].path
        browser.cmap = cmaps[i % 3]
        browser.norm = norms[i % 3]
        browser.page = i % 2
    assert browser.probe.forward_passes == passes


def test_grid_click_and_channel_slider_select_the_focus_channel(shapes_model):
    browser = LayerBrowser(shapes_model, image="star", layer="block1_conv1", columns=4)
    tile_h, tile_w = browser._grid.tile_shape
    browser._on_grid_click(x=2 * (tile_w + 1) + 1, y=1 * (tile_h + 1) + 1)  # row 1, column 2
    assert browser.channel == 6 and browser.channel_slider.value == 6
    maps = browser.probe.activations(zoo.load_image("star"), "block1_conv1")
    np.testing.assert_allclose(browser.focus_map.color, maps[:, :, 6])
    browser.channel_slider.value = 3
    assert browser.channel == 3
    browser.channel = 1000
    assert browser.channel == 15  # clamped to the layer's channels


def test_channel_order_by_max_activation(shapes_model):
    browser = LayerBrowser(shapes_model, image="cross", layer="block2_conv1", order="max")
    maps = browser.probe.activations(zoo.load_image("cross"), "block2_conv1")
    peaks = maps.max(axis=(0, 1))[browser.page_channels()]
    assert (np.diff(peaks) <= 0).all()


def test_a_dense_layer_is_refused_and_the_browser_stays_usable(shapes_model):
    browser = LayerBrowser(shapes_model, image="star", layer="block1_conv2")
    with pytest.raises(TraitError, match="not feature maps"):
        browser.layer = "predictions"
    assert "not feature maps" in browser.status_line.value and "⚠" in browser.status_line.value
    assert browser.layer == "block1_conv2"
    browser.layer = "block1_pool"
    assert "32×32×16" in browser.status and "⚠" not in browser.status_line.value


def test_bad_images_show_in_the_status_line_and_keep_the_last_good_one(shapes_model):
    browser = LayerBrowser(shapes_model, image="star")
    before = browser.snapshot()
    with pytest.raises(TraitError, match="grayscale"):
        browser.image = np.zeros((64, 64), np.uint8)
    assert "grayscale" in browser.status_line.value
    browser.images.upload.value = ({"name": "broken.png", "type": "image/png", "size": 5,
                                    "content": memoryview(b"oops!"),
                                    "last_modified": UPLOAD_TIME},)
    assert "could not decode the uploaded data" in browser.status_line.value.lower()
    np.testing.assert_array_equal(browser.snapshot(), before)
    browser.image = "circle"  # still usable
    assert "⚠" not in browser.status_line.value


def test_uploading_a_png_shows_it(shapes_model):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(zoo.load_image("cross")).save(buffer, format="PNG")
    browser = LayerBrowser(shapes_model, image="star")
    browser.images.upload.value = ({"name": "cross.png", "type": "image/png", "size": 1,
                                    "content": memoryview(buffer.getvalue()),
                                    "last_modified": UPLOAD_TIME},)
    assert browser.images.picker.value == "(your image)"
    cross = zoo.load_image("cross")
    np.testing.assert_array_equal(browser._input.pixels, cross)  # PNG is lossless
    # The maps shown are the cross's: the focus view holds channel 0 of its activations.
    maps = browser.probe.activations(cross, browser.layer)
    np.testing.assert_array_equal(browser.focus_map.color, maps[:, :, 0])
    assert not np.array_equal(maps, browser.probe.activations(zoo.load_image("star"),
                                                               browser.layer))


def test_nested_model_and_a_shared_probe():
    probe = ActivationProbe(nested_model())
    browser = LayerBrowser(probe, image=np.full((3, 3, 3), 9, np.uint8))
    assert browser.layer == "inner/mix"
    first_label = browser.layer_picker.options[0][0]
    assert first_label.startswith("inner/mix (conv)")
    assert browser.probe is probe


def test_snapshot_and_save_write_the_displayed_grid(tmp_path):
    browser = LayerBrowser(ones_conv_model(), image=np.arange(16, dtype=np.uint8).reshape(4, 4),
                           cmap="gray")
    path = browser.save(tmp_path / "grid.png")
    np.testing.assert_array_equal(decode_png(path.read_bytes()), browser.snapshot())
    # conv maps [[10, 14, 18], ...] scaled per channel: the top-left pixel is the minimum.
    np.testing.assert_array_equal(browser.snapshot()[0, 0], [0, 0, 0])
    assert browser.snapshot()[-1, -1].tolist() == [255, 255, 255]


def test_repr_is_short(shapes_model):
    assert len(repr(LayerBrowser(shapes_model, image="star"))) < 100


# --------------------------------------------------------------------------- which tile is which
# numbered_channels_model: channel c of "numbers" is the constant c (8 channels). With the
# layer's range [0, 7], channel c is drawn in the colormap's colour at c / 7: each tile's colour
# says which channel it shows.
NUMBERED = 8
BLANK = np.zeros((2, 3, 3), np.uint8)


def colour_of(channel: int, cmap: str = "viridis") -> np.ndarray:
    """The colour of the constant ``channel`` scaled over [0, NUMBERED - 1], by matplotlib."""
    return np.array(matplotlib.colormaps[cmap](channel / (NUMBERED - 1))[:3]) * 255.0


def tile_boxes(picture: np.ndarray, count: int, columns: int) -> list[tuple[slice, slice]]:
    """Where each of ``count`` tiles lies in a mosaic of ``columns`` with 1-pixel gaps."""
    rows = -(-count // columns)
    height = (picture.shape[0] - rows + 1) // rows
    width = (picture.shape[1] - columns + 1) // columns
    assert picture.shape[:2] == (rows * (height + 1) - 1, columns * (width + 1) - 1)
    return [(slice(row * (height + 1), row * (height + 1) + height),
             slice(col * (width + 1), col * (width + 1) + width))
            for row, col in (divmod(i, columns) for i in range(count))]


def channel_drawn(tile: np.ndarray, cmap: str = "viridis") -> int:
    """The channel whose colour fills the whole tile (within 2 levels of matplotlib's)."""
    distances = [np.abs(tile - colour_of(c, cmap)).max() for c in range(NUMBERED)]
    best = int(np.argmin(distances))
    assert distances[best] <= 2, f"the tile is not filled with one channel's colour: {tile[0, 0]}"
    return best


@pytest.mark.parametrize(("order", "page", "expected"), [
    ("index", 0, [0, 1, 2, 3, 4]), ("index", 1, [5, 6, 7]),
    ("mean", 0, [7, 6, 5, 4, 3]), ("max", 1, [2, 1, 0]),
])
def test_every_tile_shows_the_channel_the_browser_says_is_there(order, page, expected):
    browser = LayerBrowser(numbered_channels_model(NUMBERED), image=BLANK, norm="layer",
                           order=order, page_size=5, columns=3, grid_width=95)
    browser.page = page
    assert browser.page_channels().tolist() == expected
    picture = browser.snapshot()
    np.testing.assert_array_equal(decode_png(browser.grid.png), picture)
    for position, (rows, cols) in enumerate(tile_boxes(picture, len(expected), 3)):
        channel = expected[position]
        assert channel_drawn(picture[rows, cols]) == channel, f"tile {position}"
        # A click in the middle of the tile opens the channel drawn there.
        browser._on_grid_click(x=(cols.start + cols.stop) / 2, y=(rows.start + rows.stop) / 2)
        assert browser.channel == channel and browser.channel_slider.value == channel
        np.testing.assert_array_equal(browser.focus_map.color, channel)


def test_a_colormap_chosen_after_construction_recolours_every_tile_and_the_focus(wire):
    browser = LayerBrowser(numbered_channels_model(NUMBERED), image=BLANK, norm="layer",
                           columns=4, grid_width=127)
    wire.clear()
    browser.cmap = "gray"
    picture = browser.snapshot()
    np.testing.assert_array_equal(decode_png(sent_pngs(wire)[-1]), picture)
    for channel, (rows, cols) in enumerate(tile_boxes(picture, NUMBERED, 4)):
        assert channel_drawn(picture[rows, cols], "gray") == channel
        np.testing.assert_allclose(picture[rows, cols], round(255 * channel / 7), atol=1)
    assert browser.cmap_picker.value == "gray"
    stops = browser._focus_color.colors
    assert stops[0] == "#000000" and stops[-1] == "#ffffff" and stops == sorted(stops)
    browser.cmap_picker.value = "magma"  # the dropdown does the same
    picture = browser.snapshot()
    assert [channel_drawn(picture[r, c], "magma")
            for r, c in tile_boxes(picture, NUMBERED, 4)] == list(range(NUMBERED))


def test_dead_channels_say_so_on_their_tiles():
    """numbered_channels_model's channel c is the constant c: every map is constant, so every
    tile is marked dead; the channels of a real layer, which vary over the star, are not."""
    from tiny_models import numbered_channels_model

    browser = LayerBrowser(numbered_channels_model(4), image=np.zeros((2, 3, 3), np.uint8),
                           layer="numbers")
    assert list(browser.grid._numbers[1].text) == ["0 dead", "1 dead", "2 dead", "3 dead"]
    assert "4 dead channels (constant over this image)" in browser.status
    star = LayerBrowser(zoo.load_model("shapes"), image="star")
    stats = star.probe.run(star._input).channel_stats(star.layer)
    labels = list(star.grid._numbers[1].text)
    assert labels == [f"{c} dead" if stats.dead[c] else str(c) for c in range(16)]
    assert not any(stats.dead) and labels == [str(c) for c in range(16)]
