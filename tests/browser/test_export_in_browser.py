"""The exported page scrubs with no kernel and no network: opened from disk in Chromium, its
keys and sliders show exactly the pixels the live widget's ``snapshot()`` shows for the same
layer, page or class, within one animation frame of the key press."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from convviz_widgets import CAMOverlay, LayerBrowser, zoo

from picture_checks import decode

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


def open_page(page, path) -> list[str]:
    """Open the exported file from disk; return every URL the page asked for."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=yes]")
    return requests


def shown(page) -> np.ndarray:
    """The canvas's pixels on screen (its box on whole pixels: the page keeps it there)."""
    box = page.locator("#frame").bounding_box()
    assert all(float(box[k]).is_integer() for k in ("x", "y", "width", "height")), box
    return decode(page.screenshot(clip=box))


def wait_for_key(page, key: str) -> None:
    page.wait_for_function("key => window.convvizPlayer.shown === key", arg=key)


def test_layer_browser_export_scrubs_like_the_widget(page, shapes_model, tmp_path):
    browser = LayerBrowser(shapes_model, image="star", page_size=16, cmap="magma")
    layers = [info.path for info in browser.probe.spatial_layers]
    path = browser.export_html(tmp_path / "browser.html")
    assert path.stat().st_size < 10 * 2**20
    requests = open_page(page, path)

    def expect(layer: int, page_number: int) -> None:
        wait_for_key(page, f"{layer}/{page_number}")
        browser.layer, browser.page = layers[layer], page_number
        np.testing.assert_array_equal(shown(page), browser.snapshot(),
                                      err_msg=f"layer {layers[layer]}, page {page_number}")

    expect(0, 0)
    page.locator("#frame").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(3, 0)
    page.keyboard.press("ArrowDown")  # block2_conv1 has 32 channels: 2 pages of 16
    expect(3, 1)
    page.locator("input[data-axis=layer]").fill(str(len(layers) - 1))  # the slider
    expected_pages = -(-browser.probe.layer(layers[-1]).channels // 16)
    expect(len(layers) - 1, min(1, expected_pages - 1))
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowUp")
    expect(len(layers) - 2, 0)
    assert "channels 0, 1, 2" in page.locator("#note").inner_text()
    # Nothing but the file itself was asked for: no network, no CDN.
    assert requests == [path.as_uri()], requests

    for _ in range(20):
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(200)
    times = page.evaluate("window.convvizPlayer.swapTimes")
    assert len(times) >= 40
    print(f"key press to frame: median {statistics.median(times):.2f} ms, "
          f"max {max(times):.2f} ms over {len(times)} presses")
    assert statistics.median(times) <= 16, f"median {statistics.median(times):.1f} ms"


def test_cam_overlay_export_scrubs_classes_and_layers(page, shapes_model, tmp_path):
    overlay = CAMOverlay(shapes_model, image="star", method="layercam")
    overlay.cmap, overlay.alpha = "turbo", 0.6
    ranked = list(overlay._top)
    path = overlay.export_html(tmp_path / "overlay.html", layers=overlay._layers[-3:])
    open_page(page, path)
    layer = len(overlay._layers[-3:]) - 1
    wait_for_key(page, f"{layer}/0")
    np.testing.assert_array_equal(shown(page), overlay.snapshot())
    page.locator("#frame").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowLeft")
    wait_for_key(page, f"{layer - 1}/1")
    overlay.class_index, overlay.layer = ranked[1], overlay._layers[-2]
    np.testing.assert_array_equal(shown(page), overlay.snapshot())
    assert f"Layer-CAM of {overlay.class_names[ranked[1]]}" in page.locator("#note").inner_text()
