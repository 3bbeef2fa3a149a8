"""Every widget fits the screen it is shown on: projected at 1024×768 with JupyterLab's file
browser open, at 1400×1000, and in Voila; nothing runs past the output area or scrolls
sideways, and the channel grid keeps its tiles' shape.

The measurements are the browser's own layout boxes (``getBoundingClientRect``), so they are
independent of how the widgets are built: a panel that does not wrap, a figure wider than the
page, or a grid squeezed into tall, thin tiles fails, whatever the code meant to do.
"""

from __future__ import annotations

import pytest

from page_tools import (
    artifact_path,
    assert_no_widget_errors,
    open_notebook_in_lab,
    open_notebook_in_voila,
    screenshot_path,
    sent_picture,
    wait_for_pattern,
)

NOTEBOOK = "tests/browser/fixtures/layout.ipynb"
PROJECTOR = "tests/browser/fixtures/projector.ipynb"  # the same widgets after set_theme
WIDGETS = (".convviz-layer-browser", ".convviz-cam-overlay", ".convviz-filter-gallery")
PROJECTED = (*WIDGETS, ".convviz-explorer")  # the projector notebook adds the Explorer
SIZES = [(1024, 768), (1400, 1000)]
pytestmark = pytest.mark.browser

# For each widget: the parts that stick out of its output area (by more than a pixel), whether
# the output area or the widget scrolls sideways, and the channel grid's drawn and sent sizes.
_MEASURE_JS = """
selectors => selectors.map(selector => {
  const widget = document.querySelector(selector);
  if (!widget) return {selector, missing: true};
  const area = widget.closest('.jp-OutputArea-output') || widget.parentElement;
  const box = area.getBoundingClientRect();
  const outside = [];
  for (const element of widget.querySelectorAll('*')) {
    const r = element.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    const style = getComputedStyle(element);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    const past = Math.max(r.right - box.right, box.left - r.left);
    if (past > 1) {
      const name = (element.getAttribute('class') || element.tagName).toString().slice(0, 60);
      outside.push(`${element.tagName.toLowerCase()}.${name} by ${past.toFixed(0)} px`);
    }
  }
  const scrolls = [area, widget].filter(e => e.scrollWidth > e.clientWidth + 1)
                                .map(e => e.className.toString().slice(0, 60));
  const image = widget.querySelector('.convviz-grid image, .convviz-gallery-grid image');
  const r = image ? image.getBoundingClientRect() : null;
  const drawn = r ? r.width / r.height : null;
  return {selector, width: box.width, outside: outside.slice(0, 8), scrolls, drawn};
})
"""


def assert_fits(page, where: str, shots: str | None = None,
                widgets: tuple[str, ...] = WIDGETS) -> None:
    """Fail with every widget's parts that stick out, scroll, or squeeze the grid; save each
    widget's screenshot as ``test-artifacts/{shots}_{widget}.png`` if asked."""
    if shots is not None:
        for selector in widgets:
            widget = page.locator(selector).first
            widget.scroll_into_view_if_needed()
            widget.screenshot(path=str(artifact_path(f"{shots}_{selector[9:]}.png")))
    problems = []
    for found in page.evaluate(_MEASURE_JS, list(widgets)):
        name = found["selector"]
        if found.get("missing"):
            problems.append(f"{name} is not on the page")
            continue
        if found["outside"]:
            problems.append(f"{name} runs past its {found['width']:.0f}-pixel output area: "
                            + "; ".join(found["outside"]))
        if found["scrolls"]:
            problems.append(f"{name} scrolls sideways: {found['scrolls']}")
        if found["drawn"] is not None:
            grid = page.locator(f"{name} .convviz-grid, {name} .convviz-gallery-grid").first
            height, width = sent_picture(page, grid).shape[:2]
            if abs(found["drawn"] / (width / height) - 1) > 0.03:
                problems.append(f"{name}'s grid is drawn at aspect {found['drawn']:.3f}, "
                                f"sent at {width / height:.3f}: tiles are stretched")
    assert not problems, f"{where}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("width", "height", "notebook"), [
    *((width, height, NOTEBOOK) for width, height in SIZES), (1024, 768, PROJECTOR)])
def test_every_widget_fits_jupyterlab_with_the_file_browser_open(page, lab_server, width,
                                                                 height, notebook):
    page.set_viewport_size({"width": width, "height": height})
    open_notebook_in_lab(page, lab_server, notebook)
    assert_no_widget_errors(page)
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_selector(".jp-FileBrowser", state="visible")
    page.wait_for_timeout(1000)  # let bqplot answer the resize
    theme = "projector" if notebook == PROJECTOR else "default"
    assert_fits(page, f"JupyterLab at {width}×{height} with the file browser open ({theme})",
                shots=f"lab_{width}x{height}_{theme}")


def test_every_widget_fits_jupyterlab_at_150_percent_zoom(page, lab_server):
    """150 % zoom on a 1024-pixel screen: the page lays out at 683 CSS pixels."""
    page.set_viewport_size({"width": 683, "height": 512})
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    assert_no_widget_errors(page)
    page.wait_for_timeout(1000)
    assert_fits(page, "JupyterLab at 150 % zoom on 1024×768")


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_widget_fits_voila(page, voila_server, width, height):
    page.set_viewport_size({"width": width, "height": height})
    open_notebook_in_voila(page, voila_server, NOTEBOOK, ".convviz-filter-gallery")
    page.wait_for_selector(".convviz-grid image", state="attached")
    page.wait_for_timeout(1500)
    assert_no_widget_errors(page)
    assert_fits(page, f"Voila at {width}×{height}")


_TEXT_SIZES_JS = """
selectors => {
  const small = [];
  for (const selector of selectors)
    for (const element of document.querySelectorAll(`${selector} *`)) {
      const own = Array.from(element.childNodes)
          .some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      const r = element.getBoundingClientRect();
      if (!own || r.width < 1 || r.height < 1) continue;
      const size = parseFloat(getComputedStyle(element).fontSize);
      const chart = !!element.closest('.bqplot') && !element.closest('.convviz-grid') &&
                    !element.closest('.convviz-gallery-grid');
      if (size < (chart ? 16 : 18))
        small.push(`${selector} ${element.tagName.toLowerCase()} "${element.textContent
            .trim().slice(0, 30)}" at ${size} px`);
    }
  return small;
}
"""


def test_the_projector_theme_reads_from_the_back_row(page, lab_server):
    """Every piece of text at least 18 px (chart ticks and titles at least 16 px), tile
    numbers included, at 1024×768."""
    page.set_viewport_size({"width": 1024, "height": 768})
    open_notebook_in_lab(page, lab_server, PROJECTOR)
    assert_no_widget_errors(page)
    # The Explorer's card is complete once its channel's pattern is drawn.
    wait_for_pattern(page, page.locator(".convviz-explorer div.bqplot.figure"
                                        ".convviz-card-pattern").first)
    small = page.evaluate(_TEXT_SIZES_JS, list(PROJECTED))
    assert not small, "text too small for a projector:\n" + "\n".join(small[:20])
    # The README's pictures, in the projector theme 1024 pixels wide (tall enough to hold each
    # widget whole: JupyterLab draws only what is inside its window).
    page.set_viewport_size({"width": 1024, "height": 2400})
    page.wait_for_timeout(1000)
    for selector in WIDGETS:  # the Explorer's is taken wider (test_explorer_in_browser)
        widget = page.locator(selector).first
        widget.scroll_into_view_if_needed()
        widget.screenshot(path=str(screenshot_path(f"{selector[9:].replace('-', '_')}.png")))
