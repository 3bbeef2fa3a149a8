"""FilterGallery in a real JupyterLab: pressing Run streams the grid while the progress bar
advances, and the finished grid is the gallery's own result."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest

from convviz_widgets import FilterGallery, zoo
from convviz_widgets.engine.render import decode_png

from page_tools import (
    artifact_path,
    assert_no_widget_errors,
    image_bytes,
    open_notebook_in_lab,
)

NOTEBOOK = "tests/browser/fixtures/filter_gallery.ipynb"
pytestmark = pytest.mark.browser


def progress_percent(widget) -> float:
    style = widget.locator(".convviz-gallery-progress .progress-bar").first.get_attribute(
        "style") or ""
    for part in style.split(";"):
        name, _, value = part.partition(":")
        if name.strip() in ("width", "height") and value.strip().endswith("%"):
            return float(value.strip()[:-1])
    return 0.0


def test_run_streams_patterns_with_a_moving_progress_bar(page, lab_server):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    widget = page.locator(".convviz-filter-gallery").first
    widget.scroll_into_view_if_needed()
    grid = widget.locator(".convviz-gallery-grid image").first
    grid.wait_for(state="attached")
    pending = image_bytes(page, grid)
    assert "press Run" in widget.locator(".convviz-status").inner_text()

    widget.locator(".convviz-gallery-run").click()
    seen_pictures, seen_progress = {pending}, []
    deadline = time.monotonic() + 120
    while "done in" not in widget.locator(".convviz-status").inner_text():
        assert time.monotonic() < deadline, "the run did not finish"
        seen_progress.append(progress_percent(widget))
        with contextlib.suppress(Exception):  # the element is replaced while it is redrawn
            seen_pictures.add(image_bytes(page, grid))
        time.sleep(0.05)
    final = image_bytes(page, grid)
    seen_pictures.add(final)
    assert progress_percent(widget) == pytest.approx(100.0)
    moving = [p for p in seen_progress if 0 < p < 100]
    assert moving, f"the progress bar never showed a step in between: {seen_progress[-5:]}"
    assert len(seen_pictures) >= 3, "pending, at least one streamed preview, and the result"
    assert "16/16 patterns ready" in widget.locator(".convviz-status").inner_text()

    reference = FilterGallery(zoo.load_model("shapes"), layer="block3_conv1")
    reference.run(wait=True)
    difference = np.abs(decode_png(final).astype(int) - reference.snapshot().astype(int))
    assert difference.mean() < 1.0, "the page shows the gallery's own patterns"
    assert_no_widget_errors(page)
    widget.screenshot(path=str(artifact_path("filter_gallery_in_lab.png")))
