"""What a user does wrong or fast, in a real JupyterLab: a corrupt upload on a nested VGG16
(a base inside a Sequential) shows one sentence in the status line and loses nothing, and a
burst of key presses on the layer slider ends on exactly the layer it names."""

from __future__ import annotations

import numpy as np
import pytest

from convviz_widgets.engine.render import decode_png

from page_tools import (
    assert_no_widget_errors,
    image_bytes,
    open_notebook_in_lab,
    press_slider,
    slider_readout,
    wait_for_image_change,
)

NOTEBOOK = "tests/browser/fixtures/nested_vgg16.ipynb"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reference():
    """The notebook's browser, built in this process with the same seed (same weights)."""
    import keras

    from convviz_widgets import LayerBrowser

    keras.utils.set_random_seed(0)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    model = keras.Sequential([keras.Input((64, 64, 3)), base,
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
    return LayerBrowser(model, image="cat", page_size=16,
                        preprocess=keras.applications.vgg16.preprocess_input)


def test_a_corrupt_upload_and_a_burst_of_keys_on_a_nested_model(page, lab_server, reference,
                                                                  tmp_path):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    widget = page.locator(".convviz-layer-browser").first
    widget.scroll_into_view_if_needed()
    grid = widget.locator(".convviz-grid image").first
    grid.wait_for(state="attached")
    status = widget.locator(".convviz-status")
    assert "vgg16/block1_conv1" in status.inner_text()
    before = image_bytes(page, grid)

    broken = tmp_path / "holiday.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a picture")
    with page.expect_file_chooser() as chooser:
        widget.locator(".widget-upload").first.click()
    chooser.value.set_files(str(broken))
    page.wait_for_function(
        "e => e.innerText.includes('ould not decode')", arg=status.element_handle(),
        timeout=30_000)
    assert "use a valid PNG or JPEG file" in status.inner_text()
    assert image_bytes(page, grid) == before, "the last good picture stays"

    slider = widget.locator(".convviz-layer-slider")
    press_slider(page, slider, "ArrowRight", times=12)  # as fast as the keyboard repeats
    wait_for_image_change(page, grid, before)
    page.wait_for_function("e => e.innerText.includes('vgg16/block4_conv3')",
                           arg=status.element_handle(), timeout=60_000)
    assert slider_readout(slider) == "12"
    reference.layer = reference.probe.spatial_layers[12].path
    assert reference.layer == "vgg16/block4_conv3"
    page.wait_for_timeout(500)  # let any late update land: the last one must win
    np.testing.assert_array_equal(decode_png(image_bytes(page, grid)), reference.snapshot())
    assert "⚠" not in status.inner_text()
    assert_no_widget_errors(page)
