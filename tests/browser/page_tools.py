"""Playwright helpers: open notebooks in JupyterLab or Voila, find widget errors, read images,
press slider keys, check that a figure's picture is drawn upright, and run code in Lab's kernel."""


import base64
import contextlib
import os
import re
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
from jupyter_servers import _ANSI, ARTIFACTS, KERNEL_IDLE, REPO, Server

from picture_checks import Orientation, check_upright, decode, orientation


def _page_text(page) -> str:
    try:
        return page.evaluate("() => document.body ? document.body.innerText : ''")
    except Exception:  # a closed or crashed page has no text
        return ""



# --------------------------------------------------------------------------- helpers


_WIDGET_ERRORS_JS = """
() => {
  const found = [];
  const text = document.body ? document.body.innerText : '';
  for (const line of text.split('\\n'))
    if (line.includes('Error displaying widget')) found.push(line.trim());
  // ipywidgets 8 shows a "broken" icon instead when a widget's model/view class fails to load.
  document.querySelectorAll('.jupyter-widgets-error-widget').forEach(e =>
    found.push('ipywidgets error widget: ' + e.innerText.trim()));
  return found;
}
"""


def widget_errors(page) -> list[str]:
    """Widgets that failed to render on the page: "Error displaying widget" text, and
    ipywidgets 8's error widgets ("Click to show javascript error.", when a widget's JavaScript
    class could not be loaded). Empty when all is well (or the page is gone)."""
    try:
        return page.evaluate(_WIDGET_ERRORS_JS)
    except Exception:  # a closed or crashed page
        return []


def _widget_error_message(page, found: list[str]) -> str:
    message = "widgets failed to render: " + " | ".join(found[:5])
    console_errors = [m for m in getattr(page, "console_messages", []) if m.startswith("[error]")]
    page_errors = getattr(page, "page_errors", [])
    if console_errors:
        message += "\nconsole errors:\n" + "\n".join(e[:1500] for e in console_errors[-3:])
    if page_errors:
        message += "\npage errors:\n" + "\n".join(e[:1500] for e in page_errors[-3:])
    return message


def assert_no_widget_errors(page) -> None:
    """Fail if a widget failed to render: the page shows "Error displaying widget" or an
    ipywidgets error widget (its JavaScript failed). The message includes console errors."""
    found = widget_errors(page)
    if found:
        raise AssertionError(_widget_error_message(page, found))


_LAB_STATE_JS = """
() => {
  const app = window.jupyterapp;
  if (!app) return {error: 'window.jupyterapp is missing (start Lab with expose_app_in_browser)'};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets || !panel.sessionContext)
    return {error: 'the current widget is not a notebook'};
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    const outputs = cell.model.outputs ? cell.model.outputs.toJSON() : [];
    cells.push({
      index,
      source: cell.model.sharedModel.getSource(),
      count: cell.model.executionCount,
      prompt: prompt ? prompt.innerText.trim() : '',
      errors: outputs.filter(o => o.output_type === 'error')
                     .map(o => (o.traceback || []).join('\\n') || `${o.ename}: ${o.evalue}`),
      stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr')
                     .map(o => Array.isArray(o.text) ? o.text.join('') : o.text),
    });
  });
  const session = panel.sessionContext.session;
  const kernel = session && session.kernel;
  return {
    path: panel.context ? panel.context.path : '',
    kernel: kernel ? kernel.status : 'no kernel',
    connection: kernel ? kernel.connectionStatus : 'none',
    cells,
  };
}
"""


def _lab_state(page) -> dict:
    return page.evaluate(_LAB_STATE_JS)


def _status_bar_text(page) -> str:
    return page.evaluate(
        "() => { const bar = document.querySelector('#jp-main-statusbar');"
        " return bar ? bar.innerText : ''; }"
    )


def _clean(text: str, chars: int = 3000) -> str:
    text = _ANSI.sub("", text)
    return text if len(text) <= chars else "…" + text[-chars:]


def _describe_cells(state: dict) -> str:
    rows = []
    for cell in state.get("cells", []):
        first_line = (cell["source"].strip().splitlines() or [""])[0][:60]
        rows.append(f"  cell {cell['index']}: prompt {cell['prompt']!r}  {first_line}")
    return "\n".join(rows)


def _stderr_text(state: dict) -> str:
    chunks = [text for cell in state.get("cells", []) for text in cell["stderr"]]
    return _clean("".join(chunks), 2000)


def open_notebook_in_lab(page, lab_server: Server, notebook_path: str, timeout: float = 180):
    """Open ``notebook_path`` (relative to the repo root) in JupyterLab, run all cells, and wait.

    Waits until the status bar reads ``Python 3 (ipykernel) | Idle`` (before that a Run All is
    silently dropped), runs ``notebook:run-all-cells`` (re-issued once if nothing started), then
    waits until every non-empty code cell has an execution count, no ``[*]`` prompt is left and
    the kernel is idle. Raises ``AssertionError`` with the traceback (and stderr) if a cell
    failed, or with the cells' prompts if ``timeout`` seconds (for the whole call) ran out.
    """
    deadline = time.monotonic() + timeout
    remaining_ms = lambda: max(1_000.0, (deadline - time.monotonic()) * 1000)  # noqa: E731
    path = quote(notebook_path.lstrip("/"))
    page.goto(lab_server.url(f"/lab/tree/{path}?reset"))
    page.wait_for_selector(".jp-Notebook", timeout=remaining_ms())
    try:
        page.wait_for_function(
            """text => {
                const bar = document.querySelector('#jp-main-statusbar');
                return !!bar && bar.innerText.includes(text);
            }""",
            arg=KERNEL_IDLE,
            timeout=remaining_ms(),
        )
    except Exception as error:
        raise AssertionError(
            f"the kernel of {notebook_path} did not become {KERNEL_IDLE!r} within {timeout} s; "
            f"status bar: {_status_bar_text(page)!r}; server log:\n{lab_server.log_tail(2000)}"
        ) from error
    _run_all_cells(page, notebook_path, deadline, timeout)


def open_notebook_in_notebook7(page, lab_server: Server, notebook_path: str,
                               timeout: float = 180):
    """Open ``notebook_path`` in Notebook 7 (served by the same server as JupyterLab), run all
    cells and wait, as :func:`open_notebook_in_lab` does."""
    deadline = time.monotonic() + timeout
    page.goto(lab_server.url(f"/notebooks/{quote(notebook_path.lstrip('/'))}"))
    page.wait_for_selector(".jp-Notebook", timeout=timeout * 1000)
    try:
        page.wait_for_function(
            "() => { const app = window.jupyterapp; const panel = app && app.shell.currentWidget;"
            " const kernel = panel && panel.sessionContext && panel.sessionContext.session"
            " && panel.sessionContext.session.kernel;"
            " return !!kernel && kernel.status === 'idle'; }",
            timeout=max(1_000.0, (deadline - time.monotonic()) * 1000))
    except Exception as error:
        raise AssertionError(f"the kernel of {notebook_path} did not become idle in Notebook 7 "
                             f"within {timeout} s; server log:\n{lab_server.log_tail(2000)}"
                             ) from error
    _run_all_cells(page, notebook_path, deadline, timeout)


def _run_all_cells(page, notebook_path: str, deadline: float, timeout: float) -> None:
    """Run every cell of the open notebook and wait until all ran and the kernel is idle."""

    def run_all() -> None:
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    run_all()
    started_by = time.monotonic() + 15
    reissued = False
    state: dict = {}
    while time.monotonic() < deadline:
        state = _lab_state(page)
        if "error" in state:
            raise AssertionError(f"{notebook_path}: {state['error']}")
        cells = [cell for cell in state["cells"] if cell["source"].strip()]
        running = any("*" in cell["prompt"] for cell in cells)
        failures = [cell for cell in cells if cell["errors"]]
        if failures and not running and state["kernel"] == "idle":
            cell = failures[0]
            raise AssertionError(
                f"{notebook_path}: cell {cell['index']} failed:\n"
                f"{cell['source'][:500]}\n--- traceback ---\n{_clean(cell['errors'][0])}\n"
                f"--- stderr ---\n{_stderr_text(state)}"
            )
        done = all(cell["count"] is not None for cell in cells)
        if done and not running and state["kernel"] == "idle":
            return
        started = running or any(cell["count"] is not None for cell in cells)
        if not started and not reissued and time.monotonic() > started_by:
            run_all()  # the first request was dropped (kernel not really ready)
            reissued = True
        time.sleep(0.25)
    raise AssertionError(
        f"{notebook_path}: cells did not finish within {timeout} s (kernel "
        f"{state.get('kernel')!r}, connection {state.get('connection')!r}):\n"
        f"{_describe_cells(state)}\n--- stderr ---\n{_stderr_text(state)}"
    )


_VOILA_ERRORS_JS = """
() => Array.from(document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .output_error'))
    .map(e => e.innerText)
    .filter(t => t.includes('Traceback') || /\\w+Error\\b/.test(t))
"""


def open_notebook_in_voila(
    page, voila_server: Server, notebook_path: str, selector: str, timeout: float = 180
):
    """Open ``notebook_path`` in Voila (which runs it) and wait until ``selector`` is visible.

    Raises ``AssertionError`` early with the traceback if the page shows a failed cell, or with
    the page text if ``selector`` did not appear within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    path = quote(notebook_path.lstrip("/"))
    page.goto(voila_server.url(f"/voila/render/{path}"), wait_until="commit")
    target = page.locator(selector).first
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if target.is_visible():
                return
        failures = []
        with contextlib.suppress(Exception):
            failures = page.evaluate(_VOILA_ERRORS_JS)
        if failures:
            raise AssertionError(
                f"{notebook_path} failed in Voila:\n{_clean(failures[0])}\n"
                f"server log:\n{voila_server.log_tail(2000)}"
            )
        time.sleep(0.25)
    raise AssertionError(
        f"{selector!r} did not appear in Voila's rendering of {notebook_path} within {timeout} s;"
        f" page text:\n{_clean(_page_text(page), 2000)}\nserver log:\n{voila_server.log_tail(2000)}"
    )


_FETCH_BASE64_JS = """
async url => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetch ${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 8192)
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return btoa(binary);
}
"""


def image_bytes(page, locator) -> bytes:
    """The bytes behind an HTML ``<img src>`` or an SVG ``<image href>``, fetched in the page.

    Works for ``blob:``, ``data:`` and same-origin URLs (ipywidgets ``Image`` uses ``blob:``).
    """
    url = locator.evaluate(
        "e => e.getAttribute('src') || e.getAttribute('href') || "
        "e.getAttributeNS('http://www.w3.org/1999/xlink', 'href') || ''"
    )
    if not url:
        raise AssertionError("the image element has no src/href")
    return base64.b64decode(page.evaluate(_FETCH_BASE64_JS, url))


def press_slider(page, slider_locator, key: str, times: int = 1) -> None:
    """Focus the ``.noUi-handle`` of an ipywidgets slider and press ``key`` ``times`` times.

    ``slider_locator`` is the slider widget (``.widget-slider`` or an element added with
    ``add_class``) or anything containing it; keys: ArrowRight/ArrowLeft/Home/End/PageUp...
    """
    handle = slider_locator.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)


def wait_for_image_change(page, locator, old_bytes: bytes, timeout: float = 30) -> bytes:
    """Poll ``image_bytes(page, locator)`` until it differs from ``old_bytes``; return it."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):  # the element may be replaced while re-rendering
            current = image_bytes(page, locator)
            if current != old_bytes:
                return current
        if time.monotonic() > deadline:
            raise AssertionError(f"the image did not change within {timeout} s")
        time.sleep(0.1)


def screenshot_path(name: str) -> Path:
    """Where a screenshot called ``name`` goes: ``docs/`` when CONVVIZ_UPDATE_SCREENSHOTS=1,
    else ``test-artifacts/`` (git-ignored)."""
    if os.environ.get("CONVVIZ_UPDATE_SCREENSHOTS") == "1":
        return REPO / "docs" / name
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def artifact_path(name: str) -> Path:
    """Where a screenshot kept only for inspection goes: ``test-artifacts/`` (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def wait_for_text(locator, text: str, timeout: float = 30) -> str:
    """Poll ``locator``'s text until it contains ``text``; return it."""
    deadline = time.monotonic() + timeout
    while True:
        current = locator.text_content() or ""
        if text in current:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {text!r} on screen, found {current!r}")
        time.sleep(0.1)


def wait_for_pattern(page, figure, timeout: float = 120) -> np.ndarray:
    """The picture sent to the pattern view once it is a pattern (not the grey placeholder)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sent = sent_picture(page, figure)
            if sent.std() > 1:
                return sent
        except Exception:  # the <image> is replaced while it is redrawn
            pass
        if time.monotonic() > deadline:
            raise AssertionError("no pattern was drawn")
        time.sleep(0.25)


def slider_readout(slider_locator) -> str:
    """The text of an ipywidgets slider's readout."""
    return slider_locator.locator(".widget-readout").first.inner_text().strip()


# --------------------------------------------------------------------------- pictures on screen


def _intersection(a: dict, b: dict) -> dict:
    left, top = max(a["x"], b["x"]), max(a["y"], b["y"])
    right = min(a["x"] + a["width"], b["x"] + b["width"])
    bottom = min(a["y"] + a["height"], b["y"] + b["height"])
    return {"x": left, "y": top, "width": max(0.0, right - left),
            "height": max(0.0, bottom - top)}


def sent_picture(page, figure) -> np.ndarray:
    """The picture a bqplot figure's ``<image>`` was given (its ``blob:``/``data:`` PNG), RGB."""
    return decode(image_bytes(page, figure.locator("image").first))


_ANNOTATIONS_JS = """
(figure, visibility) => figure.querySelectorAll('svg text, svg path')
    .forEach(e => { e.style.visibility = visibility; })
"""


def figure_screen(page, figure) -> tuple[np.ndarray, dict, dict]:
    """What the page shows of a bqplot figure's ``<image>`` mark: its pixels where the plot area
    does not clip them (RGB), the box the image is drawn in, and the visible part of that box.

    The tile numbers and the selected tile's outline drawn over a picture (its ``text`` and
    ``path`` elements) are hidden for the screenshot: the picture itself is compared here; the
    annotations are checked on their own (``test_which_tile_in_browser``).
    Boxes are in CSS pixels of the page (the figure is scrolled into view first).
    """
    figure.scroll_into_view_if_needed()
    drawn = figure.locator("image").first.bounding_box()
    plot_area = figure.locator("rect.plotarea_background").first.bounding_box()
    if drawn is None or plot_area is None:
        raise AssertionError("the figure has no visible <image> or plot area")
    visible = _intersection(drawn, plot_area)
    if visible["width"] < 8 or visible["height"] < 8:
        raise AssertionError(f"the figure's image is (nearly) clipped away: {visible}")
    figure.evaluate(_ANNOTATIONS_JS, "hidden")
    try:
        return decode(page.screenshot(clip=visible)), drawn, visible
    finally:
        figure.evaluate(_ANNOTATIONS_JS, "")


def assert_drawn_as(page, figure, expected: np.ndarray, what: str, *, timeout: float = 5.0,
                    save: bool = True) -> Orientation:
    """Fail unless the screen shows ``expected`` upright in a bqplot figure's ``<image>`` mark.

    ``expected`` (uint8 RGB, any size) is what should fill the box the image is drawn in; it
    is resized to that box, cut to the part the plot area shows, and correlated with the
    screenshot as it is, upside down and mirrored (:func:`picture_checks.orientation`).
    Screenshots are retaken for up to ``timeout`` seconds while the check fails (a picture
    may still be loading); then the last screenshot and the expected picture are saved to
    ``test-artifacts/`` (unless ``save`` is false) and the error says which way it is drawn.
    Returns the correlations.
    """
    deadline = time.monotonic() + timeout
    while True:
        screen, drawn, visible = figure_screen(page, figure)
        drawn_size = (round(drawn["width"]), round(drawn["height"]))
        offset = (round(visible["x"] - drawn["x"]), round(visible["y"] - drawn["y"]))
        scores = orientation(screen, expected, drawn_size, offset)
        try:
            check_upright(scores, what)
            return scores
        except AssertionError:
            if time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            if save:
                _save_pictures(what, screen=screen, expected=expected)
            raise


def _save_pictures(what: str, **pictures: np.ndarray) -> None:
    from PIL import Image

    ARTIFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", what).strip("_")[:80]
    for name, picture in pictures.items():
        Image.fromarray(np.ascontiguousarray(picture, np.uint8)).save(
            ARTIFACTS / f"{stem}-{name}.png")


_KERNEL_OUTPUT_JS = """
async code => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session &&
                 panel.sessionContext.session.kernel;
  if (!kernel) throw new Error('the current JupyterLab widget has no kernel');
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let output = '', error = null;
  future.onIOPub = message => {
    const type = message.header.msg_type;
    if (type === 'stream' && message.content.name === 'stdout') output += message.content.text;
    if (type === 'error') error = `${message.content.ename}: ${message.content.evalue}`;
  };
  await future.done;
  if (error) throw new Error(error);
  return output;
}
"""


def kernel_output(page, code: str) -> str:
    """Run ``code`` in the kernel of the notebook open in JupyterLab; return what it printed.

    The notebook's own outputs are untouched (the reply goes to this request only).
    """
    return page.evaluate(_KERNEL_OUTPUT_JS, code)
