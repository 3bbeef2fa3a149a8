"""Keys pressed over a widget's picture do what the help line says, stop at the ends, and a key
that fails says why in the status line."""

from __future__ import annotations

import pytest

from convviz_widgets import CAMOverlay, FilterGallery, LayerBrowser, zoo


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


def press(widget, *names: str) -> None:
    for name in names:
        widget.keyboard.handle({"type": "keydown", "key": name})


def test_layer_browser_keys(shapes_model):
    browser = LayerBrowser(shapes_model, image="star", page_size=8)
    layers = [info.path for info in browser.probe.spatial_layers]
    press(browser, "ArrowRight", "ArrowRight")
    assert browser.layer == layers[2] and browser.layer_slider.value == 2
    press(browser, "ArrowLeft", "ArrowLeft", "ArrowLeft")  # stops at the first layer
    assert browser.layer == layers[0]
    press(browser, "ArrowDown")
    assert browser.page == 1 and browser.page_slider.value == 1
    press(browser, "ArrowDown", "ArrowDown")  # block1_conv1 has 16 channels: 2 pages
    assert browser.page == 1
    press(browser, ".")  # channel 0 is not on page 1: the page's first channel
    assert browser.channel == browser.page_channels()[0] == 8
    press(browser, ".", ".", ",")
    assert browser.channel == browser.page_channels()[1] == 9
    press(browser, "c", "n")
    assert (browser.cmap, browser.norm) == ("magma", "layer")
    press(browser, "x", "Shift")  # not bound: nothing happens
    assert (browser.cmap, browser.norm) == ("magma", "layer")
    press(browser, "?")
    assert "← → layer" in browser.status and "↑ ↓ page" in browser.status
    assert "← → layer" in browser.keyboard.help.value


def test_a_key_with_a_modifier_is_left_to_the_browser(shapes_model):
    browser = LayerBrowser(shapes_model, image="star")
    browser.keyboard.handle({"type": "keydown", "key": "ArrowRight", "ctrlKey": True})
    assert browser.layer_slider.value == 0


def test_cam_overlay_keys_step_through_the_ranked_classes_and_run(shapes_model):
    overlay = CAMOverlay(shapes_model, image="star")
    ranked = list(overlay._top)
    assert overlay.class_index == ranked[0]
    press(overlay, "ArrowDown", "ArrowDown")
    assert overlay.class_index == ranked[2] and overlay.class_box.value == ranked[2]
    press(overlay, "ArrowUp")
    assert overlay.class_index == ranked[1]
    press(overlay, "ArrowLeft")
    assert overlay.layer == overlay._layers[-2]
    overlay.method = "scorecam"
    press(overlay, "Enter")
    overlay.wait(120)
    assert "Score-CAM" in overlay.status and "press Run" not in overlay.status
    press(overlay, "m")
    assert overlay.method != "scorecam"


def test_filter_gallery_keys(shapes_model):
    gallery = FilterGallery(shapes_model, layer="block1_conv1", page_size=8)
    press(gallery, ".", ".", ".")
    assert gallery.filter == 3
    press(gallery, "ArrowDown")
    assert gallery.page == 1
    press(gallery, "w")
    assert gallery.mode == "weights"
    press(gallery, "ArrowRight")
    assert gallery.layer == gallery._convs[1].path
