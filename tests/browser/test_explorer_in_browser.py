"""The Explorer on screen, in JupyterLab and Voila: a tile click fills the card with that
channel's examples and pattern, a ranking bar moves the grid's selection to its channel, a class
bar re-ranks the channels for that class, and the keys step the channel. The image is a scene of
a star and a triangle (59 % and 38 %), so the second class bar is tall enough to click.

The expectations are computed here, in the test's own process, from the engine on a fresh
probe: the index of the same 64 shapes, the contributions of every channel to each class, and
the pattern of the channel (``CONVVIZ_MAX_STEPS=8``, as the fixture sets it)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from test_keys_in_browser import hover
from test_layout_in_browser import assert_fits
from test_pictures_on_screen_in_browser import Tiles, click_tile
from test_which_tile_in_browser import wait_for_outline

from convviz_widgets import zoo
from convviz_widgets.engine.contributions import channel_contributions
from convviz_widgets.engine.examples import build_index
from convviz_widgets.engine.featvis import PatternCache, pattern_steps
from convviz_widgets.engine.gradients import LayerGradients
from convviz_widgets.engine.probe import ActivationProbe
from convviz_widgets.engine.render import mosaic
from convviz_widgets.widgets.filter_gallery import fit_tile
from convviz_widgets.zoo.shapes import make_scene

from page_tools import (
    assert_drawn_as,
    assert_no_widget_errors,
    open_notebook_in_lab,
    open_notebook_in_voila,
    screenshot_path,
    sent_picture,
    wait_for_pattern,
    wait_for_text,
)

NOTEBOOK = "tests/browser/fixtures/explorer.ipynb"
LAYER = "block4_conv2"
pytestmark = pytest.mark.browser


class Expected:
    """What the screen should show, from the engine in this process."""

    def __init__(self) -> None:
        self.model = zoo.load_model("shapes")
        images = zoo.shapes_dataset(64, seed=4)[0]
        self.index = build_index(self.model, images, [LAYER], k=4)
        scene, _ = make_scene(["star", "triangle"], seed=0)
        probe = ActivationProbe(self.model)
        self.classes = np.argsort(-probe.predict(scene), kind="stable").tolist()
        gradients = LayerGradients(probe)
        self.ranking = {c: channel_contributions(gradients, scene, LAYER, c).order().tolist()
                        for c in range(len(zoo.class_names("shapes")))}

    def examples(self, channel: int) -> np.ndarray:
        tiles = np.stack([fit_tile(e.crop, 64) for e in self.index.examples(LAYER, channel)])
        return mosaic(tiles, columns=len(tiles), gap=2, fill=(255, 255, 255))

    def pattern(self, channel: int) -> np.ndarray:
        os.environ["CONVVIZ_MAX_STEPS"] = "8"
        try:
            updates = list(pattern_steps(self.model, LAYER, [channel], cache=PatternCache()))
        finally:
            del os.environ["CONVVIZ_MAX_STEPS"]
        return fit_tile(np.asarray(updates[-1].finished[0].pixels), 160)


@pytest.fixture(scope="module")
def expected():
    return Expected()


def ranking_on_screen(explorer) -> list[int]:
    """The channel numbers under the ranking's bars, left to right (the tick labels on the
    lowest line of the chart: the vertical axis's ticks stand in a column at the left)."""
    labels = []
    for tick in explorer.locator(".convviz-ranking .axis .tick text").all():
        text = (tick.text_content() or "").strip()
        box = tick.bounding_box()
        if text.isdigit() and box is not None:
            labels.append((round(box["y"]), box["x"], int(text)))
    if not labels:
        return []
    lowest = max(y for y, _, _ in labels)
    return [channel for y, _, channel in sorted(labels, key=lambda t: t[1]) if y == lowest]


def wait_for_ranking(explorer, expected: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        shown = ranking_on_screen(explorer)
        if shown[:8] == expected[:8]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"ranking on screen {shown}, expected {expected[:16]}")
        time.sleep(0.2)


def check_explorer(page, expected: Expected) -> None:
    explorer = page.locator(".convviz-explorer").first
    title = explorer.locator(".convviz-card-title").first
    grid = explorer.locator("div.bqplot.figure.convviz-grid").first
    grid.locator("image").first.wait_for(state="attached")
    tiles = Tiles.of(sent_picture(page, grid), 2, 8)
    top = expected.classes[0]
    wait_for_ranking(explorer, expected.ranking[top])

    # A tile click: the card shows that channel, its examples and its pattern.
    click_tile(page, grid, tiles, 1, 2)  # page 0 in index order: channel 10
    wait_for_text(title, f"{LAYER} · channel 10")
    examples = explorer.locator("div.bqplot.figure.convviz-card-examples").first
    assert_drawn_as(page, examples, expected.examples(10), "examples of channel 10",
                    timeout=15)
    pattern = explorer.locator("div.bqplot.figure.convviz-card-pattern").first
    wait_for_pattern(page, pattern)
    assert_drawn_as(page, pattern, expected.pattern(10), "pattern of channel 10", timeout=15)

    # A ranking bar: the grid turns to its channel's page and outlines it.
    bars = explorer.locator(".convviz-ranking rect.bar")
    bars.nth(2).click()
    chosen = expected.ranking[top][2]
    wait_for_text(title, f"{LAYER} · channel {chosen}")
    wait_for_outline(grid, tiles, chosen % 16)
    assert_drawn_as(page, examples, expected.examples(chosen), f"examples of {chosen}",
                    timeout=15)

    # A class bar: the ranking is that class's.
    overlay = explorer.locator(".convviz-cam-overlay").first
    overlay.locator(".convviz-cam-classes rect.bar").nth(1).click()
    wait_for_ranking(explorer, expected.ranking[expected.classes[1]])

    # The keys over the grid step the channel.
    hover(page, grid)
    page.keyboard.press(".")
    wait_for_text(title, f"{LAYER} · channel {chosen + 1 if chosen % 16 < 15 else chosen}")
    assert_no_widget_errors(page)


def test_explorer_in_lab(page, lab_server, expected):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    check_explorer(page, expected)
    # The README's first picture: the Explorer as the clicks above left it, 1400 pixels wide
    # (tall enough to hold it whole: JupyterLab draws only what is inside its window).
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.wait_for_timeout(1000)
    explorer = page.locator(".convviz-explorer").first
    explorer.scroll_into_view_if_needed()
    explorer.screenshot(path=str(screenshot_path("explorer.png")))


def test_explorer_in_voila(page, voila_server, expected):
    open_notebook_in_voila(page, voila_server, NOTEBOOK, ".convviz-explorer")
    check_explorer(page, expected)


def test_explorer_fits_jupyterlab_at_1024_with_the_file_browser_open(page, lab_server):
    page.set_viewport_size({"width": 1024, "height": 768})
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    page.locator(".convviz-explorer .convviz-card-examples image").first.wait_for(
        state="attached")
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_selector(".jp-FileBrowser", state="visible")
    page.wait_for_timeout(1000)  # let bqplot answer the resize
    assert_fits(page, "the Explorer in JupyterLab at 1024×768 with the file browser open",
                shots="lab_1024x768_explorer", widgets=(".convviz-explorer",))
    assert_no_widget_errors(page)
