"""With the pointer over a widget's picture, the keys of its help line work in JupyterLab,
Notebook 7 and Voila, and the notebook's own shortcuts (arrows move between cells) do not fire
meanwhile."""

from __future__ import annotations

import time

import numpy as np
import pytest

from page_tools import (
    assert_no_widget_errors,
    open_notebook_in_lab,
    open_notebook_in_notebook7,
    open_notebook_in_voila,
    sent_picture,
    slider_readout,
    wait_for_text,
)

NOTEBOOK = "tests/browser/fixtures/layout.ipynb"
pytestmark = pytest.mark.browser


def hover(page, locator) -> None:
    """Put the pointer on the middle of ``locator`` (ipyevents then gives it the keys)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(200)


def wait_for_readout(slider, value: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while slider_readout(slider) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"slider reads {slider_readout(slider)!r}, not {value!r}")
        time.sleep(0.1)


def check_layer_browser_keys(page) -> None:
    browser = page.locator(".convviz-layer-browser").first
    grid = browser.locator("div.bqplot.figure.convviz-grid").first
    focus = browser.locator("div.bqplot.figure.convviz-focus").first
    caption = browser.locator(".convviz-focus-caption").first  # the range
    before = sent_picture(page, grid)
    hover(page, grid)
    page.keyboard.press("ArrowDown")  # the layer's next page (with 8 channels a page)
    wait_for_readout(browser.locator(".convviz-page-slider"), "1")
    page.keyboard.press("ArrowUp")
    wait_for_readout(browser.locator(".convviz-page-slider"), "0")
    page.keyboard.press("ArrowRight")
    wait_for_readout(browser.locator(".convviz-layer-slider"), "1")
    wait_for_text(caption, "block1_conv2 · channel 0:")
    wait_for_text(focus, "block1_conv2 · channel 0")  # the enlarged view's title
    assert not np.array_equal(sent_picture(page, grid), before)
    page.keyboard.press(".")
    wait_for_text(caption, "block1_conv2 · channel 1:")
    wait_for_readout(browser.locator(".convviz-channel-slider"), "1")


def test_keys_over_the_pictures_in_jupyterlab(page, lab_server):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    # The pointer's cell becomes the active one (the picture takes the focus); the arrows
    # must then work the widget, not move to another cell.
    active = "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"
    hover(page, page.locator(".convviz-grid").first)
    cell = page.evaluate(active)
    check_layer_browser_keys(page)
    assert page.evaluate(active) == cell

    overlay = page.locator(".convviz-cam-overlay").first
    status = overlay.locator(".convviz-status")
    wait_for_text(status, "explaining: star")
    hover(page, overlay.locator("div.bqplot.figure.convviz-cam-image").first)
    cell = page.evaluate(active)
    page.keyboard.press("ArrowDown")  # the second-ranked class
    wait_for_text(overlay.locator(".convviz-status"), "explaining: ")
    deadline = time.monotonic() + 15
    while "explaining: star" in status.inner_text():
        assert time.monotonic() < deadline, status.inner_text()
        time.sleep(0.1)
    page.keyboard.press("?")
    wait_for_text(status, "← → layer")
    assert page.evaluate(active) == cell
    assert_no_widget_errors(page)


def test_keys_over_the_grid_in_voila(page, voila_server):
    open_notebook_in_voila(page, voila_server, NOTEBOOK, ".convviz-filter-gallery")
    page.wait_for_selector(".convviz-grid image", state="attached")
    check_layer_browser_keys(page)
    assert_no_widget_errors(page)


def test_keys_over_the_grid_in_notebook7(page, lab_server):
    """Notebook 7 runs its own command-mode shortcuts before the widget's (the arrows also move
    its cell selection: see the README); the widget's other keys work and leave the notebook
    alone."""
    open_notebook_in_notebook7(page, lab_server, NOTEBOOK)
    active = "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"
    browser = page.locator(".convviz-layer-browser").first
    caption = browser.locator(".convviz-focus-caption").first
    hover(page, browser.locator(".convviz-grid").first)
    cell = page.evaluate(active)
    page.keyboard.press(".")
    wait_for_text(caption, "block1_conv1 · channel 1:")
    wait_for_readout(browser.locator(".convviz-channel-slider"), "1")
    page.keyboard.press("n")  # next normalization: "layer"
    wait_for_text(browser.locator(".widget-toggle-button.mod-active").first, "layer")
    page.keyboard.press("?")
    wait_for_text(browser.locator(".convviz-status"), "← → layer")
    assert page.evaluate(active) == cell
    assert_no_widget_errors(page)
