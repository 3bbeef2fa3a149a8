"""``export_html`` writes one self-contained page whose frames are the widget's own pictures,
one per layer × page (or layer × class), and refuses bad requests with a sentence."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from convviz_widgets import CAMOverlay, LayerBrowser, zoo
from convviz_widgets.engine.render import decode_png


@pytest.fixture(scope="module")
def shapes_model():
    return zoo.load_model("shapes")


def page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    # Nothing to fetch: no address (":" is not in base64's alphabet), no link, no source.
    assert "://" not in text and "<link" not in text and "src=" not in text
    match = re.search(r'<script id="convviz-data" type="application/json">(.*?)</script>',
                      text, re.S)
    return json.loads(match.group(1))


def frame(data: dict, key: str) -> np.ndarray:
    return decode_png(base64.b64decode(data["frames"][key]))


def test_every_layer_and_page_is_a_frame_equal_to_the_snapshot(shapes_model, tmp_path):
    browser = LayerBrowser(shapes_model, image="star", page_size=16, order="mean",
                           cmap="gray", norm="layer")
    layers = [info for info in browser.probe.spatial_layers]
    data = page_data(browser.export_html(tmp_path / "b.html"))
    assert data["start"] == [0, 0]  # what the browser shows
    assert [axis["name"] for axis in data["axes"]] == ["layer", "page"]
    assert data["axes"][0]["labels"] == [info.path for info in layers]
    pages = [-(-info.channels // 16) for info in layers]
    assert sorted(data["frames"]) == sorted(f"{i}/{p}" for i, n in enumerate(pages)
                                            for p in range(n))
    for key in ("0/0", "3/1", f"{len(layers) - 1}/0"):
        index, page = map(int, key.split("/"))
        browser.layer, browser.page = layers[index].path, page
        np.testing.assert_array_equal(frame(data, key), browser.snapshot(), err_msg=key)
    again = page_data(browser.export_html(tmp_path / "again.html"))
    assert again["start"] == [len(layers) - 1, 0] and again["frames"] == data["frames"]


def test_cam_export_has_a_frame_per_layer_and_ranked_class(shapes_model, tmp_path):
    overlay = CAMOverlay(shapes_model, image="star")
    ranked = list(overlay._top)
    data = page_data(overlay.export_html(tmp_path / "c.html", layers=["block4_conv1",
                                                                       "block4_conv2"]))
    assert data["axes"][1]["labels"] == [overlay.class_names[i] for i in ranked]
    assert len(data["frames"]) == 2 * len(ranked)
    overlay.layer, overlay.class_index = "block4_conv1", ranked[2]
    np.testing.assert_array_equal(frame(data, "0/2"), overlay.snapshot())
    assert data["notes"]["0/2"].startswith(f"Grad-CAM of {overlay.class_names[ranked[2]]}")


def test_bad_export_requests_get_a_sentence(shapes_model, tmp_path):
    browser = LayerBrowser(shapes_model, image="star")
    with pytest.raises(ValueError, match=r"does not end in \.html"):
        browser.export_html(tmp_path / "page.png")
    with pytest.raises(ValueError, match="create it first"):
        browser.export_html(tmp_path / "missing" / "page.html")
    with pytest.raises(ValueError, match="has no feature maps to export"):
        browser.export_html(tmp_path / "page.html", layers=["predictions"])
    overlay = CAMOverlay(shapes_model, image="star")
    with pytest.raises(ValueError, match="out of range"):
        overlay.export_html(tmp_path / "page.html", classes=[99])
    assert not list(tmp_path.iterdir())
