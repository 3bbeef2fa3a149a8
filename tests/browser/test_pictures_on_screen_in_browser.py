"""What the screen shows: every picture the widgets draw is upright, and a clicked tile opens.

bqplot's Image mark once drew every picture upside down while every byte sent was right, so
tests comparing the bytes with ``snapshot()`` passed. These tests screenshot each figure and
correlate it with the picture expected, as it is, upside down and mirrored (``assert_drawn_as``):
with the bytes the figure was sent, and with a picture computed here by hand from
``fixtures/asymmetric.py`` (a gradient image and fixed-weight models, none of them symmetric),
without Keras or the widgets. Clicks are checked on screen too: after clicking a tile, the
enlarged view must show what that tile shows on screen, not what the widget believes is there.
"""

from __future__ import annotations

import base64
import contextlib
import re
import time
from dataclasses import dataclass

import matplotlib
import numpy as np
import pytest
from PIL import Image

from fixtures.asymmetric import (
    CHANNELS,
    TEMPLATES,
    class_weights,
    gradcam,
    gradient_image,
    mix_maps,
    template_kernels,
)
from page_tools import (
    assert_drawn_as,
    assert_no_widget_errors,
    figure_screen,
    kernel_output,
    open_notebook_in_lab,
    open_notebook_in_voila,
    sent_picture,
    slider_readout,
    wait_for_text,
)
from picture_checks import correlation, decode, gray, resized

NOTEBOOK = "tests/browser/fixtures/orientation.ipynb"
IMAGE = gradient_image()
MAPS = mix_maps(IMAGE)
KERNEL_PICTURES = (template_kernels() * 255.0 + 0.5).astype(np.uint8)
LAYER_COLUMNS, GALLERY_COLUMNS = 8, 4
pytestmark = pytest.mark.browser

# --------------------------------------------------------------------------- pictures by hand


def colormapped(values: np.ndarray, cmap: str, low: float | None = None,
                high: float | None = None) -> np.ndarray:
    """``values`` scaled from [low, high] (default: their own range) through a matplotlib
    colormap, as uint8 RGB."""
    low = values.min() if low is None else low
    high = values.max() if high is None else high
    scaled = (values - low) / (high - low)
    return (matplotlib.colormaps[cmap](scaled)[..., :3] * 255.0 + 0.5).astype(np.uint8)


def mosaic_of(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """Tiles of equal size in rows of ``columns`` with 1-pixel white gaps."""
    height, width = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1, 3), 255, np.uint8)
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (height + 1), (index % columns) * (width + 1)
        canvas[top : top + height, left : left + width] = tile
    return canvas


def channel_picture(channel: int) -> np.ndarray:
    """Channel ``channel`` of ``mix`` over its own range through viridis (24 × 32)."""
    return colormapped(MAPS[..., channel], "viridis")


def pattern_picture(kernel: np.ndarray) -> np.ndarray:
    """The pattern that maximizes ⟨kernel, image⟩ from gray noise is the kernel; shown the way
    Chollet's ``deprocess_image`` does: standardized, × 0.1, + 0.5, clipped, × 255."""
    centred = (kernel - kernel.mean()) / kernel.std()
    return (np.clip(centred * 0.1 + 0.5, 0.0, 1.0) * 255.0).astype(np.uint8)


def explained_class() -> int:
    """The class CAMOverlay explains first: the predicted one (the logits are linear)."""
    return int(np.argmax(MAPS.mean(axis=(0, 1)) @ class_weights()))


def overlay_picture(height: int, width: int) -> np.ndarray:
    """Grad-CAM through jet, half over the image, both enlarged to ``height`` × ``width``."""
    heat = Image.fromarray(gradcam(IMAGE, explained_class()).astype(np.float32), mode="F")
    heat = np.asarray(heat.resize((width, height), Image.Resampling.BILINEAR))
    colour = colormapped(np.clip(heat, 0.0, 1.0), "jet", 0.0, 1.0).astype(np.float64)
    picture = resized(IMAGE, width, height).astype(np.float64)
    return (0.5 * picture + 0.5 * colour + 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- tiles


@dataclass(frozen=True)
class Tiles:
    """Where the tiles of a mosaic of ``rows`` × ``columns`` tiles with 1-pixel gaps are."""

    rows: int
    columns: int
    height: int
    width: int

    @classmethod
    def of(cls, picture: np.ndarray, rows: int, columns: int) -> Tiles:
        """The layout of ``picture``, a mosaic of that many rows and columns."""
        height, width = picture.shape[:2]
        return cls(rows, columns, (height - rows + 1) // rows, (width - columns + 1) // columns)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the whole mosaic."""
        return (self.rows * (self.height + 1) - 1, self.columns * (self.width + 1) - 1)

    def box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of a tile in the mosaic's pixels."""
        top, left = row * (self.height + 1), column * (self.width + 1)
        return top, left, top + self.height, left + self.width

    def on_screen(self, screen: np.ndarray, row: int, column: int) -> np.ndarray:
        """The pixels of a tile in a screenshot of the whole mosaic (scaled if the browser
        scaled it), less 2 pixels at the edges, where the gaps blend in."""
        scale_y = screen.shape[0] / self.size[0]
        scale_x = screen.shape[1] / self.size[1]
        top, left, bottom, right = self.box(row, column)
        return screen[round(top * scale_y) + 2 : round(bottom * scale_y) - 2,
                      round(left * scale_x) + 2 : round(right * scale_x) - 2]


def click_tile(page, figure, tiles: Tiles, row: int, column: int) -> None:
    """Click the middle of a tile where the figure's image is drawn on the page, then move the
    pointer away: bqplot shows its toolbar over a figure under the pointer."""
    figure.scroll_into_view_if_needed()
    drawn = figure.locator("image").first.bounding_box()
    top, left, bottom, right = tiles.box(row, column)
    x = drawn["x"] + (left + right) / 2 * drawn["width"] / tiles.size[1]
    y = drawn["y"] + (top + bottom) / 2 * drawn["height"] / tiles.size[0]
    page.mouse.click(x, y)
    page.mouse.move(0, 0)


def wait_for_view_of_tile(page, grid, tiles: Tiles, view, row: int, column: int,
                          what: str, timeout: float = 15) -> float:
    """Wait until the enlarged ``view`` shows what tile (row, column) of ``grid`` shows on
    screen: that tile, of all, correlates best with the view, above 0.9. Returns it."""
    deadline = time.monotonic() + timeout
    while True:
        grid_screen, _, _ = figure_screen(page, grid)
        view_screen, _, _ = figure_screen(page, view)
        scores = {}
        for r in range(tiles.rows):
            for c in range(tiles.columns):
                tile = tiles.on_screen(grid_screen, r, c)
                shown = resized(view_screen, tile.shape[1], tile.shape[0])
                scores[(r, c)] = correlation(gray(tile), gray(shown))
        best = max(scores, key=lambda key: scores[key])
        if best == (row, column) and scores[best] > 0.9:
            return scores[best]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: after clicking tile (row {row}, column {column}) the enlarged view "
                f"shows what tile {best} shows on screen (correlation {scores[best]:.3f}; with "
                f"the clicked tile {scores[(row, column)]:.3f})")
        time.sleep(0.2)


# --------------------------------------------------------------------------- checks


def kernel_snapshot(page, widget: str) -> np.ndarray:
    """``<widget>.snapshot()`` of the widget live in the JupyterLab kernel."""
    code = ("import base64 as _b64, io as _io\nfrom PIL import Image as _Image\n"
            f"_png = _io.BytesIO(); _Image.fromarray({widget}.snapshot()).save(_png, 'PNG')\n"
            "print(_b64.b64encode(_png.getvalue()).decode())")
    return decode(base64.b64decode(kernel_output(page, code)))


class Findings:
    """What the checks saw. A check that fails is recorded and the next one still runs, so one
    run says how every figure is drawn; :meth:`assert_all_passed` fails with all of them."""

    def __init__(self, page) -> None:
        self.page = page
        self.failures: list[str] = []

    def picture(self, figure, expected: np.ndarray, what: str) -> None:
        """The figure shows ``expected`` upright (see ``assert_drawn_as``)."""
        self.run(what, lambda: assert_drawn_as(self.page, figure, expected, what))

    def run(self, what: str, check) -> None:
        """Run ``check()``; print what it returns, or record how it failed."""
        try:
            print(f"{what}: {check()}")
        except AssertionError as error:
            print(f"{what}: FAILED")
            self.failures.append(str(error).strip())

    def assert_all_passed(self) -> None:
        assert not self.failures, "\n".join(self.failures)


def check_every_picture(page, snapshot=None) -> None:
    """Each figure against the bytes it was sent and against the picture made by hand (and the
    widget's ``snapshot()`` where the figure shows it, when ``snapshot`` can fetch it)."""
    findings = Findings(page)
    browser = page.locator(".convviz-layer-browser").first
    grid = browser.locator("div.bqplot.figure.convviz-grid").first
    grid.locator("image").first.wait_for(state="attached")
    sent = sent_picture(page, grid)
    if snapshot is not None:
        np.testing.assert_array_equal(sent, snapshot("browser"))
    tiles = Tiles.of(sent, 2, LAYER_COLUMNS)
    assert tiles.size == sent.shape[:2]
    findings.picture(grid, sent, "LayerBrowser grid vs sent")
    by_hand = [resized(channel_picture(c), tiles.width, tiles.height) for c in range(CHANNELS)]
    findings.picture(grid, mosaic_of(by_hand, LAYER_COLUMNS), "LayerBrowser grid vs hand")
    focus = browser.locator("div.bqplot.figure.convviz-focus").first
    caption = browser.locator(".convviz-focus-caption").first  # the range
    wait_for_text(caption, "channel 0:")
    findings.picture(focus, channel_picture(0), "LayerBrowser focus (HeatMap) vs hand")

    overlay = page.locator(".convviz-cam-overlay").first
    wait_for_text(overlay.locator(".convviz-status"), f"explaining: class {explained_class()}")
    picture = overlay.locator("div.bqplot.figure.convviz-cam-image").first
    sent = sent_picture(page, picture)
    if snapshot is not None:
        np.testing.assert_array_equal(sent, snapshot("overlay"))
    findings.picture(picture, sent, "CAMOverlay overlay vs sent")
    findings.picture(picture, overlay_picture(*sent.shape[:2]), "CAMOverlay overlay vs hand")
    raw = overlay.locator("div.bqplot.figure.convviz-cam-map").first
    findings.picture(raw, sent_picture(page, raw), "CAMOverlay raw map vs sent")
    cam = colormapped(gradcam(IMAGE, explained_class()), "jet", 0.0, 1.0)
    findings.picture(raw, cam, "CAMOverlay raw map vs hand")

    gallery = page.locator(".convviz-filter-gallery").first
    wait_for_text(gallery.locator(".convviz-status"), f"{TEMPLATES}/{TEMPLATES} patterns ready")
    kernels = template_kernels()
    grid = gallery.locator("div.bqplot.figure.convviz-gallery-grid").first
    sent = sent_picture(page, grid)
    if snapshot is not None:
        np.testing.assert_array_equal(sent, snapshot("gallery"))
    tiles = Tiles.of(sent, 2, GALLERY_COLUMNS)
    findings.picture(grid, sent, "FilterGallery grid (patterns) vs sent")
    patterns = [resized(pattern_picture(k), tiles.width, tiles.height) for k in kernels]
    findings.picture(grid, mosaic_of(patterns, GALLERY_COLUMNS),
                     "FilterGallery grid (patterns) vs hand")
    focus = gallery.locator("div.bqplot.figure.convviz-gallery-focus").first
    findings.picture(focus, sent_picture(page, focus), "FilterGallery focus pattern vs sent")
    findings.picture(focus, pattern_picture(kernels[0]), "FilterGallery focus pattern vs hand")
    kernel = gallery.locator("div.bqplot.figure.convviz-gallery-kernel").first
    findings.picture(kernel, sent_picture(page, kernel), "FilterGallery kernel vs sent")
    findings.picture(kernel, KERNEL_PICTURES[0], "FilterGallery kernel vs hand")

    gallery.get_by_role("button", name="weights", exact=True).click()
    wait_for_picture_change(page, grid, sent)
    sent = sent_picture(page, grid)
    if snapshot is not None:
        np.testing.assert_array_equal(sent, snapshot("gallery"))
    findings.picture(grid, sent, "FilterGallery grid (weights) vs sent")
    by_hand = [resized(k, tiles.width, tiles.height) for k in KERNEL_PICTURES]
    findings.picture(grid, mosaic_of(by_hand, GALLERY_COLUMNS),
                     "FilterGallery grid (weights) vs hand")
    gallery.get_by_role("button", name="patterns", exact=True).click()
    wait_for_picture_change(page, grid, sent)
    assert_no_widget_errors(page)
    findings.assert_all_passed()


def wait_for_picture_change(page, figure, old: np.ndarray, timeout: float = 30) -> None:
    """Wait until the picture sent to ``figure`` differs from ``old``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the <image> is replaced while it is redrawn
            if not np.array_equal(sent_picture(page, figure), old):
                return
        time.sleep(0.1)
    raise AssertionError(f"the picture did not change within {timeout} s")


def title_range(title: str) -> tuple[float, float]:
    """The min and max a LayerBrowser focus title states."""
    match = re.search(r"activation (\S+) to (\S+)$", title)
    assert match, f"no 'activation … to …' at the end of the focus title {title!r}"
    return float(match.group(1)), float(match.group(2))


def check_clicks(page) -> None:
    """Click tiles whose flipped counterparts differ; the channel or filter named on screen
    and the enlarged view must be that tile's."""
    findings = Findings(page)
    browser = page.locator(".convviz-layer-browser").first
    grid = browser.locator("div.bqplot.figure.convviz-grid").first
    focus = browser.locator("div.bqplot.figure.convviz-focus").first
    caption = browser.locator(".convviz-focus-caption").first  # the range
    slider = browser.locator(".convviz-channel-slider")
    tiles = Tiles.of(sent_picture(page, grid), 2, LAYER_COLUMNS)

    def open_channel(row: int, column: int) -> str:
        channel = row * LAYER_COLUMNS + column
        click_tile(page, grid, tiles, row, column)
        title = wait_for_text(caption, f"channel {channel}:")
        assert slider_readout(slider) == str(channel)
        low, high = title_range(title)
        values = MAPS[..., channel]
        assert low == pytest.approx(values.min(), rel=0.01, abs=1e-3), title
        assert high == pytest.approx(values.max(), rel=0.01, abs=1e-3), title
        score = wait_for_view_of_tile(page, grid, tiles, focus, row, column, "LayerBrowser")
        return f"channel {channel} named; focus vs that tile on screen {score:.3f}"

    for row, column in [(0, 2), (1, 5)]:
        findings.run(f"LayerBrowser click on tile ({row}, {column})",
                     lambda row=row, column=column: open_channel(row, column))

    gallery = page.locator(".convviz-filter-gallery").first
    grid = gallery.locator("div.bqplot.figure.convviz-gallery-grid").first
    focus = gallery.locator("div.bqplot.figure.convviz-gallery-focus").first
    kernel = gallery.locator("div.bqplot.figure.convviz-gallery-kernel").first
    curve = gallery.locator("div.bqplot.figure.convviz-gallery-curve").first
    tiles = Tiles.of(sent_picture(page, grid), 2, GALLERY_COLUMNS)

    def open_filter(row: int, column: int) -> str:
        index = row * GALLERY_COLUMNS + column
        click_tile(page, grid, tiles, row, column)
        wait_for_text(curve, f"filter {index}:")
        score = wait_for_view_of_tile(page, grid, tiles, focus, row, column, "FilterGallery")
        return f"filter {index} named; focus vs that tile on screen {score:.3f}"

    for row, column in [(0, 2), (1, 1)]:
        findings.run(f"FilterGallery click on tile ({row}, {column})",
                     lambda row=row, column=column: open_filter(row, column))
        index = row * GALLERY_COLUMNS + column
        findings.picture(kernel, KERNEL_PICTURES[index], f"FilterGallery kernel {index} vs hand")
    assert_no_widget_errors(page)
    findings.assert_all_passed()


# --------------------------------------------------------------------------- tests


def test_every_picture_on_screen_is_upright_in_jupyterlab(page, lab_server):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    check_every_picture(page, snapshot=lambda widget: kernel_snapshot(page, widget))
    # The check can fail: the same screen against the expected picture flipped.
    grid = page.locator(".convviz-layer-browser div.bqplot.figure.convviz-grid").first
    sent = sent_picture(page, grid)
    with pytest.raises(AssertionError, match="drawn upside down"):
        assert_drawn_as(page, grid, sent[::-1], "grid expected upside down", timeout=0,
                        save=False)
    with pytest.raises(AssertionError, match="drawn mirrored"):
        assert_drawn_as(page, grid, sent[:, ::-1], "grid expected mirrored", timeout=0,
                        save=False)


def test_clicking_a_tile_opens_that_tile_in_jupyterlab(page, lab_server):
    open_notebook_in_lab(page, lab_server, NOTEBOOK)
    check_clicks(page)


def test_pictures_are_upright_and_clicks_open_the_tile_in_voila(page, voila_server):
    open_notebook_in_voila(page, voila_server, NOTEBOOK,
                           ".convviz-filter-gallery .convviz-gallery-grid image")
    check_every_picture(page)
    check_clicks(page)
