"""Each widget's Save button offers the picture on display as a PNG download, the same pixels
as ``snapshot()`` and ``save()``, named after what is shown."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from convviz_widgets import CAMOverlay, FilterGallery, LayerBrowser, zoo
from convviz_widgets.engine.render import decode_png


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


def offered(widget) -> tuple[str, np.ndarray]:
    """The file name and the pixels of the download link the Save button made."""
    widget.save_button.click()
    match = re.search(r'download="([^"]+)" href="data:image/png;base64,([^"]+)"',
                      widget.save_link.value)
    assert match is not None, widget.save_link.value
    return match.group(1), decode_png(base64.b64decode(match.group(2)))


@pytest.mark.parametrize("make", [
    lambda model: LayerBrowser(model, image="star", layer="block2_conv1"),
    lambda model: CAMOverlay(model, image="star", layer="block2_conv1", target=1),
    lambda model: FilterGallery(model, layer="block2_conv1", mode="weights"),
], ids=["browser", "overlay", "gallery"])
def test_save_offers_the_pixels_on_display(shapes_model, make, tmp_path):
    widget = make(shapes_model)
    name, pixels = offered(widget)
    assert "block2_conv1" in name and name.endswith(".png")
    np.testing.assert_array_equal(pixels, widget.snapshot())
    np.testing.assert_array_equal(pixels, decode_png(widget.save(tmp_path / "a.png").read_bytes()))


def test_save_follows_what_is_shown(shapes_model):
    browser = LayerBrowser(shapes_model, image="star", page_size=8)
    first_name, first = offered(browser)
    browser.page = 1
    name, pixels = offered(browser)
    assert (first_name, name) == ("block1_conv1_page1.png", "block1_conv1_page2.png")
    assert not np.array_equal(first, pixels)
    np.testing.assert_array_equal(pixels, browser.snapshot())
