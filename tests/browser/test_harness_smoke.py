"""Smoke tests of the browser harness: widget JavaScript loads and reacts in JupyterLab and Voila.

``fixtures/smoke.ipynb`` shows an IntSlider driving a PNG ``Image`` (its colour depends on the
value) and a bqplot bar chart; pressing ArrowRight on the slider must change the image's bytes.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from page_tools import (
    assert_no_widget_errors,
    image_bytes,
    open_notebook_in_lab,
    open_notebook_in_voila,
    press_slider,
    wait_for_image_change,
)

SMOKE = "tests/browser/fixtures/smoke.ipynb"
pytestmark = pytest.mark.browser


def pixel(data: bytes) -> tuple[int, ...]:
    with Image.open(io.BytesIO(data)) as decoded:
        return decoded.convert("RGB").getpixel((0, 0))


def check_slider_drives_image_and_bars_render(page) -> None:
    slider = page.locator(".smoke-slider").first
    image = page.locator("img.smoke-image").first
    image.wait_for(state="visible")
    before = image_bytes(page, image)
    assert pixel(before) == (0, 255, 0)  # png_for(0) in the notebook
    assert slider.locator(".widget-readout").inner_text().strip() == "0"

    press_slider(page, slider, "ArrowRight")
    after = wait_for_image_change(page, image, before, timeout=30)
    assert pixel(after) == (37, 232, 91)  # png_for(1)
    assert slider.locator(".widget-readout").inner_text().strip() == "1"

    figure = page.locator("div.bqplot.figure").first
    bars = figure.locator("rect.bar")
    bars.first.wait_for(state="attached")
    assert bars.count() == 4
    heights = [float(bar.get_attribute("height") or 0) for bar in bars.all()]
    assert all(height > 0 for height in heights), heights
    assert heights.index(max(heights)) == 2  # y=[3, 1, 4, 2]
    assert_no_widget_errors(page)


def test_smoke_notebook_in_jupyterlab(page, lab_server):
    open_notebook_in_lab(page, lab_server, SMOKE, timeout=120)
    check_slider_drives_image_and_bars_render(page)


def test_smoke_notebook_in_voila(page, voila_server):
    open_notebook_in_voila(page, voila_server, SMOKE, "div.bqplot.figure rect.bar", timeout=120)
    check_slider_drives_image_and_bars_render(page)
