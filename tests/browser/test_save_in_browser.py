"""The Save PNG button downloads, in the browser, the picture the widget shows: the file the
browser saves has the pixels of the kernel's ``snapshot()``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from page_tools import kernel_output, open_notebook_in_lab
from picture_checks import decode

NOTEBOOK = "tests/browser/fixtures/layout.ipynb"
pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("selector", "name"), [(".convviz-layer-browser", "browser"),
                                                (".convviz-cam-overlay", "overlay")])
def test_save_downloads_the_pixels_on_display(page, lab_server, selector, name):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    widget = page.locator(selector).first
    widget.locator(".convviz-save").first.click()
    link = widget.locator(".convviz-save-link a").first
    link.wait_for(state="visible")
    with page.expect_download() as download:
        link.click()
    saved = decode(download.value.path().read_bytes())
    expected = json.loads(kernel_output(
        page, f"import json; print(json.dumps({name}.snapshot().tolist()))"))
    np.testing.assert_array_equal(saved, np.array(expected, np.uint8))
    assert download.value.suggested_filename.endswith(".png")
