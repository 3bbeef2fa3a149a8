"""On screen, each tile is the channel the LayerBrowser names, and each bar explains its class.

``fixtures/which_tile.ipynb`` shows a LayerBrowser of ``numbered_channels_model``, whose channel
``c`` is the constant ``c``: over the layer's range, channel ``c`` is drawn in viridis at
``c / 7``, so the colour of a tile on the screen says which channel it is. Ordered by mean, the
page shows channels 7, 6, …, 0: the tile at each position must be the channel the widget says is
there, and clicking it must open that channel. The notebook's CAMOverlay explains
``spatial_model``, whose classes rank 2, 0, 1, so a bar that set the class to its own position
would explain the wrong class; the overlay on the screen is compared with the Grad-CAM overlay
of each class made by hand from the independent reference (``tests/cam_references.py``).
"""

from __future__ import annotations

import json
import time

import matplotlib
import numpy as np
import pytest
from PIL import Image
from test_pictures_on_screen_in_browser import Tiles, click_tile

import cam_references as ref
from page_tools import (
    assert_no_widget_errors,
    figure_screen,
    kernel_output,
    open_notebook_in_lab,
    sent_picture,
    wait_for_text,
)
from picture_checks import orientation
from tiny_models import SPATIAL_IMAGE

NOTEBOOK = "tests/browser/fixtures/which_tile.ipynb"
CHANNELS, COLUMNS = 8, 4
NAMES = ["cat", "dog", "fox"]
pytestmark = pytest.mark.browser


def channel_colour(channel: int) -> np.ndarray:
    """Viridis at ``channel / 7``, by matplotlib."""
    return np.array(matplotlib.colormaps["viridis"](channel / (CHANNELS - 1))[:3]) * 255.0


def channel_on_screen(pixels: np.ndarray) -> int:
    """The channel whose colour fills a tile on the screen (its median colour, within 8)."""
    median = np.median(pixels.reshape(-1, 3), axis=0)
    distances = [np.abs(median - channel_colour(c)).max() for c in range(CHANNELS)]
    best = int(np.argmin(distances))
    assert distances[best] <= 8, f"a tile on screen is {median}, no channel's colour"
    return best


def overlay_by_hand(cls: int, size: int = 320) -> np.ndarray:
    """Grad-CAM of conv1 for ``cls`` upsampled to the 4×4 input, both enlarged ×80, the map
    through jet half over the image."""
    heat = ref.bilinear(ref.gradcam(SPATIAL_IMAGE, "conv1", cls), (4, 4))
    colour = np.array(matplotlib.colormaps["jet"](heat)[..., :3]) * 255.0
    blend = 0.5 * SPATIAL_IMAGE + 0.5 * colour
    return np.asarray(Image.fromarray(np.clip(blend + 0.5, 0, 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.NEAREST))


def class_on_screen(page, figure, cls: int, timeout: float = 15) -> dict[int, float]:
    """Wait until the overlay on the screen correlates best with ``cls``'s overlay by hand
    (above 0.9); return each class's correlation."""
    deadline = time.monotonic() + timeout
    while True:
        screen, drawn, visible = figure_screen(page, figure)
        size = (round(drawn["width"]), round(drawn["height"]))
        offset = (round(visible["x"] - drawn["x"]), round(visible["y"] - drawn["y"]))
        scores = {c: orientation(screen, overlay_by_hand(c), size, offset).upright
                  for c in range(3)}
        best = max(scores, key=lambda c: scores[c])
        if best == cls and scores[cls] > 0.9:
            return scores
        if time.monotonic() > deadline:
            raise AssertionError(f"the overlay on screen is not class {cls}'s: {scores}")
        time.sleep(0.25)


def tile_under(grid, tiles: Tiles, x: float, y: float) -> int | None:
    """The position (row-major) of the tile under page point (x, y) of the grid's image."""
    drawn = grid.locator("image").first.bounding_box()
    column = int((x - drawn["x"]) / drawn["width"] * tiles.size[1] // (tiles.width + 1))
    row = int((y - drawn["y"]) / drawn["height"] * tiles.size[0] // (tiles.height + 1))
    if 0 <= row < tiles.rows and 0 <= column < tiles.columns:
        return row * tiles.columns + column
    return None


def numbers_on_screen(grid, tiles: Tiles) -> dict[int, int]:
    """Tile position → the number drawn in it (each number is drawn twice: white over a black
    shadow; both must fall in the same tile)."""
    found: dict[int, set[int]] = {}
    for label in grid.locator("text").all():
        box = label.bounding_box()
        words = (label.text_content() or "").split()  # "7", or "7 dead" for a constant map
        if box is None or not words or not words[0].isdigit():
            continue
        text = words[0]
        position = tile_under(grid, tiles, box["x"] + box["width"] / 2,
                              box["y"] + box["height"] / 2)
        assert position is not None, f"number {text} is drawn off the tiles at {box}"
        found.setdefault(position, set()).add(int(text))
    assert all(len(numbers) == 1 for numbers in found.values()), found
    return {position: numbers.pop() for position, numbers in found.items()}


def wait_for_outline(grid, tiles: Tiles, position: int, timeout: float = 15) -> None:
    """Wait until the outline drawn over the grid surrounds exactly tile ``position``."""
    drawn = grid.locator("image").first.bounding_box()
    row, column = divmod(position, tiles.columns)
    top, left, bottom, right = tiles.box(row, column)
    scale_x, scale_y = drawn["width"] / tiles.size[1], drawn["height"] / tiles.size[0]
    want = (drawn["x"] + left * scale_x, drawn["y"] + top * scale_y,
            drawn["x"] + right * scale_x, drawn["y"] + bottom * scale_y)
    deadline = time.monotonic() + timeout
    while True:
        boxes = [b for b in (p.bounding_box() for p in grid.locator("path").all())
                 if b is not None and b["width"] > 4]
        got = [(b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]) for b in boxes]
        # Centred on the tile, and as large as the tile plus the stroke's reach: Chromium's box
        # of a path includes its 3-pixel stroke with mitred corners (up to 4 × 1.5 px a side).
        if any(abs((g[0] + g[2]) - (want[0] + want[2])) <= 3
               and abs((g[1] + g[3]) - (want[1] + want[3])) <= 3
               and 0 <= (g[2] - g[0]) - (want[2] - want[0]) <= 13
               and 0 <= (g[3] - g[1]) - (want[3] - want[1]) <= 13 for g in got):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no outline around tile {position} ({want}); outlines {got}")
        time.sleep(0.25)


def test_each_tile_is_the_channel_named_and_each_bar_explains_its_class(page, lab_server):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)

    browser = page.locator(".convviz-layer-browser").first
    grid = browser.locator("div.bqplot.figure.convviz-grid").first
    grid.locator("image").first.wait_for(state="attached")
    focus = browser.locator("div.bqplot.figure.convviz-focus").first
    caption = browser.locator(".convviz-focus-caption").first  # the range
    named = json.loads(kernel_output(page, "print(browser.page_channels().tolist())"))
    assert named == list(range(CHANNELS - 1, -1, -1))
    tiles = Tiles.of(sent_picture(page, grid), 2, COLUMNS)
    screen, _, _ = figure_screen(page, grid)
    shown = [channel_on_screen(tiles.on_screen(screen, row, column))
             for row in range(2) for column in range(COLUMNS)]
    assert shown == named, f"on screen {shown}, named by the widget {named}"
    # The number drawn on each tile is the channel whose colour fills it on the screen.
    assert numbers_on_screen(grid, tiles) == {p: shown[p] for p in range(CHANNELS)}
    for position in (0, 5, 3):
        row, column = divmod(position, COLUMNS)
        click_tile(page, grid, tiles, row, column)
        channel = shown[position]
        title = wait_for_text(caption, f"channel {channel}:")
        wait_for_text(focus, f"numbers · channel {channel}")  # the title names the layer
        # The constant c: that channel's maps; the title names the layer.
        assert f"numbers · channel {channel}: activation {channel} to {channel}" in title
        wait_for_outline(grid, tiles, position)

    overlay = page.locator(".convviz-cam-overlay").first
    status = overlay.locator(".convviz-status")
    picture = overlay.locator("div.bqplot.figure.convviz-cam-image").first
    ranked = np.argsort(-ref.probabilities(SPATIAL_IMAGE[None])[0]).tolist()
    assert ranked == [2, 0, 1]
    wait_for_text(status, f"explaining: {NAMES[ranked[0]]}")
    class_on_screen(page, picture, ranked[0])
    bars = overlay.locator(".convviz-cam-classes rect.bar")
    assert bars.count() == 3
    for position in (1, 2, 0):
        bars.nth(position).click()
        cls = ranked[position]
        wait_for_text(status, f"explaining: {NAMES[cls]}")
        class_on_screen(page, picture, cls)
    assert_no_widget_errors(page)
