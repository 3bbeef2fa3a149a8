"""Playwright helpers: open notebooks in JupyterLab or Voila, press slider keys, read images."""

from __future__ import annotations

import base64
import time

from playwright.sync_api import Locator, Page

from lab_harness import Server

KERNEL_IDLE = "Python 3 (ipykernel) | Idle"


def open_notebook_in_lab(page: Page, lab: Server, path: str, timeout: float = 240) -> None:
    """Open ``path`` in JupyterLab, run every cell, and wait until all have run without error."""
    page.goto(lab.url(f"/lab/tree/{path}?reset"))
    page.wait_for_selector(".jp-Notebook", timeout=timeout * 1000)
    # The execution indicator reads idle before the kernel connects; Run All is dropped then.
    page.wait_for_function(f"document.body.innerText.includes({KERNEL_IDLE!r})",
                           timeout=timeout * 1000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        if prompts and all(p.strip().startswith("[") and p.strip()[1:2].isdigit()
                           for p in prompts):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"cells did not finish in {timeout} s: {prompts}")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                          ", .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
    assert not tracebacks, f"a cell failed:\n{tracebacks[0][:2000]}"


def open_notebook_in_voila(page: Page, voila: Server, path: str, selector: str,
                           timeout: float = 240) -> None:
    """Open ``path`` in Voila (which runs it) and wait until ``selector`` is visible."""
    page.goto(voila.url(f"/voila/render/{path}"))
    page.wait_for_selector(selector, state="visible", timeout=timeout * 1000)


def assert_no_widget_errors(page: Page) -> None:
    """Fail if any widget failed to render."""
    text = page.locator("body").inner_text()
    assert "Error displaying widget" not in text, "a widget failed to render"


def image_bytes(page: Page, locator: Locator) -> bytes:
    """The bytes behind an ``<img src>`` or SVG ``<image href>``, fetched inside the page."""
    url = locator.evaluate("e => e.getAttribute('src') || e.getAttribute('href') || "
                           "e.getAttribute('xlink:href')")
    assert url, "the image has no source"
    encoded = page.evaluate(
        """async url => {
            const buffer = await (await fetch(url)).arrayBuffer();
            let binary = '';
            const bytes = new Uint8Array(buffer);
            for (let i = 0; i < bytes.length; i += 8192)
                binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
            return btoa(binary);
        }""",
        url,
    )
    return base64.b64decode(encoded)


def press_slider(slider: Locator, key: str, times: int = 1) -> None:
    """Focus an ipywidgets slider's handle and press ``key`` (ArrowRight, End, …)."""
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    for _ in range(times):
        handle.press(key)


def wait_for_new_image(page: Page, locator: Locator, old: bytes, timeout: float = 30) -> bytes:
    """Poll until the image's bytes differ from ``old``; return the new bytes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = image_bytes(page, locator)
        if current != old:
            return current
        time.sleep(0.2)
    raise AssertionError(f"the image did not change within {timeout} s")


def slider_readout(slider: Locator) -> str:
    """The text of a slider's readout."""
    return slider.locator(".widget-readout").first.inner_text().strip()
