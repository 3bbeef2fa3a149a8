"""LayerBrowser in a real JupyterLab and Voila: keyboard scrubbing changes the picture on screen,
and the picture on screen is exactly the widget's own snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from convviz_widgets import LayerBrowser, zoo
from convviz_widgets.engine.render import decode_png

from page_tools import (
    artifact_path,
    assert_no_widget_errors,
    image_bytes,
    open_notebook_in_lab,
    open_notebook_in_voila,
    press_slider,
    slider_readout,
    wait_for_image_change,
    wait_for_text,
)

TOUR = "notebooks/01_tour.ipynb"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reference():
    """A LayerBrowser set up as in the tour notebook, to compute expected snapshots."""
    return LayerBrowser(zoo.load_model("shapes"), image="star", page_size=16,
                        class_names=zoo.class_names("shapes"))


def expected_snapshot(reference: LayerBrowser, layer_index: int, page: int) -> np.ndarray:
    reference.layer = reference.probe.spatial_layers[layer_index].path
    reference.page = page
    return reference.snapshot()


def grid_image(page):
    browser = page.locator(".convviz-layer-browser").first
    return browser, browser.locator(".convviz-grid image").first


def scrub_and_check(page, reference) -> None:
    browser, grid = grid_image(page)
    grid.wait_for(state="attached")
    first = image_bytes(page, grid)
    np.testing.assert_array_equal(decode_png(first), expected_snapshot(reference, 0, 0))

    layer_slider = browser.locator(".convviz-layer-slider")
    press_slider(page, layer_slider, "ArrowRight")
    second = wait_for_image_change(page, grid, first)
    assert slider_readout(layer_slider) == "1"
    np.testing.assert_array_equal(decode_png(second), expected_snapshot(reference, 1, 0))

    press_slider(page, layer_slider, "End")  # the last conv layer: 64 channels, 4 pages of 16
    last = len(reference.probe.spatial_layers) - 1
    third = wait_for_image_change(page, grid, second)
    assert slider_readout(layer_slider) == str(last)
    np.testing.assert_array_equal(decode_png(third), expected_snapshot(reference, last, 0))

    page_slider = browser.locator(".convviz-page-slider")
    press_slider(page, page_slider, "ArrowRight")
    on_page_two = wait_for_image_change(page, grid, third)
    press_slider(page, page_slider, "ArrowRight")
    fourth = wait_for_image_change(page, grid, on_page_two)
    assert slider_readout(page_slider) == "2"
    np.testing.assert_array_equal(decode_png(fourth), expected_snapshot(reference, last, 2))
    # The status line is a message of its own: it may reach the page just after the picture.
    wait_for_text(browser.locator(".convviz-status"), "page 3/4")
    assert_no_widget_errors(page)


def test_tour_in_jupyterlab_scrubs_layers_and_pages_with_the_keyboard(page, lab_server,
                                                                      reference):
    open_notebook_in_lab(page, lab_server, TOUR)
    page.locator(".convviz-layer-browser").first.scroll_into_view_if_needed()
    scrub_and_check(page, reference)
    page.locator(".convviz-layer-browser").first.screenshot(
        path=str(artifact_path("layer_browser_in_lab.png")))


def test_tour_in_voila_scrubs_layers_and_pages_with_the_keyboard(page, voila_server, reference):
    open_notebook_in_voila(page, voila_server, TOUR, ".convviz-layer-browser .convviz-grid image")
    scrub_and_check(page, reference)
