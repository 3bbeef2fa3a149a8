"""CAMOverlay in a real JupyterLab: clicking a bar and moving the layer slider change the overlay
on screen, and the overlay on screen is exactly the widget's own snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from convviz_widgets import CAMOverlay, zoo
from convviz_widgets.engine.render import decode_png
from convviz_widgets.zoo.shapes import make_scene

from page_tools import (
    artifact_path,
    assert_no_widget_errors,
    image_bytes,
    open_notebook_in_lab,
    press_slider,
    slider_readout,
    wait_for_image_change,
    wait_for_text,
)

NOTEBOOK = "tests/browser/fixtures/cam_overlay.ipynb"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reference():
    """A CAMOverlay set up as in the notebook, to compute the expected pictures."""
    scene, _ = make_scene(["star", "triangle"], seed=5)
    return CAMOverlay(zoo.load_model("shapes"), image=scene,
                      class_names=zoo.class_names("shapes"))


def expected(reference: CAMOverlay, class_index: int, layer: str) -> np.ndarray:
    reference.class_index, reference.layer = class_index, layer
    return reference.snapshot()


def test_clicking_a_bar_and_moving_the_layer_slider_redraw_the_overlay(page, lab_server,
                                                                       reference):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    widget = page.locator(".convviz-cam-overlay").first
    widget.scroll_into_view_if_needed()
    picture = widget.locator(".convviz-cam-image image").first
    picture.wait_for(state="attached")
    top, last_layer = reference._top, reference._layers[-1]
    first = image_bytes(page, picture)
    np.testing.assert_array_equal(decode_png(first), expected(reference, top[0], last_layer))

    bars = widget.locator(".convviz-cam-classes rect.bar")
    assert bars.count() == 5
    bars.nth(1).click()
    second = wait_for_image_change(page, picture, first)
    np.testing.assert_array_equal(decode_png(second), expected(reference, top[1], last_layer))
    names = zoo.class_names("shapes")
    # The status line is a message of its own: it may reach the page just after the picture.
    wait_for_text(widget.locator(".convviz-status"), f"explaining: {names[top[1]]}")

    slider = widget.locator(".convviz-cam-layer-slider")
    press_slider(page, slider, "Home")
    third = wait_for_image_change(page, picture, second)
    assert slider_readout(slider) == "0"
    np.testing.assert_array_equal(decode_png(third),
                                  expected(reference, top[1], reference._layers[0]))
    wait_for_text(widget.locator(".convviz-status"), "block1_conv1")
    assert_no_widget_errors(page)
    press_slider(page, slider, "End")  # back to the last conv layer for the picture
    wait_for_image_change(page, picture, third)
    widget.screenshot(path=str(artifact_path("cam_overlay_in_lab.png")))
