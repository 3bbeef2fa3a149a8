"""The training timeline in a real JupyterLab: the epoch slider moved with the keyboard swaps
the weights, and the screen shows what a fresh model with that epoch's weights shows."""

from __future__ import annotations

import time

import numpy as np
import pytest

from convviz_widgets import LayerBrowser, zoo

from page_tools import (
    assert_drawn_as,
    assert_no_widget_errors,
    image_bytes,
    open_notebook_in_lab,
    press_slider,
    wait_for_image_change,
)
from picture_checks import decode

NOTEBOOK = "tests/browser/fixtures/timeline.ipynb"
pytestmark = pytest.mark.browser


def expected_grid(epoch: int) -> np.ndarray:
    """The grid of a fresh copy of the bundled model holding that epoch's weights."""
    timeline = zoo.load_timeline("shapes")
    fresh = zoo.load_model("shapes")
    fresh.set_weights(timeline.weights(epoch))
    return LayerBrowser(fresh, image="star", layer="block1_conv2", page_size=16).snapshot()


def test_the_epoch_slider_scrubs_the_grid_with_the_keyboard(page, lab_server):
    epochs = zoo.load_timeline("shapes").epochs
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    browser = page.locator(".convviz-layer-browser").first
    grid = browser.locator(".convviz-grid")
    image = grid.locator("image").first
    image.wait_for(state="attached")
    last = image_bytes(page, image)
    np.testing.assert_array_equal(decode(last), expected_grid(epochs[-1]))
    slider = browser.locator(".convviz-epoch-slider")
    for presses, epoch in ((1, epochs[-2]), (len(epochs) - 2, epochs[0])):
        expected = expected_grid(epoch)
        press_slider(page, slider, "ArrowLeft", times=presses)
        last = wait_for_image_change(page, image, last)
        # A burst of presses is worked through one epoch at a time: wait for the last one.
        deadline = time.monotonic() + 60
        while not np.array_equal(decode(last), expected) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            last = image_bytes(page, image)
        assert slider.locator(".widget-readout").first.inner_text().strip() == str(epoch)
        np.testing.assert_array_equal(decode(last), expected)
        assert_drawn_as(page, grid, expected, f"the grid at epoch {epoch}")
    assert_no_widget_errors(page)
