"""The kernel-free export: frames per second against matplotlib, and the page's size.

The tour's LayerBrowser (the bundled model on the star, 16 channels a page) is exported whole:
every page of every layer. The naive way to make the same frames is what tutorials do for one
page: a matplotlib figure with one subplot per channel, saved as PNG at the frame's pixel size.
How fast a key press swaps a frame is measured in the page itself, opened from disk in headless
Chromium: the page records, for every key press, the milliseconds until the new frame is on the
canvas at the next animation frame; the median must stay within one frame at 60 Hz (16 ms).
The browser test ``tests/browser/test_export_in_browser.py`` checks the same bound.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import median_seconds, report_overhead, report_speedup


def subplot_figure_png(maps: np.ndarray, channels: np.ndarray, columns: int, width: int,
                       height: int) -> bytes:
    """The tutorial's way: one subplot per channel, saved at ``width`` × ``height`` pixels."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = -(-len(channels) // columns)
    figure = pyplot.figure(figsize=(width / 100, height / 100), dpi=100)
    for i, channel in enumerate(channels):
        axes = figure.add_subplot(rows, columns, i + 1)
        axes.set_axis_off()
        axes.imshow(maps[:, :, channel], cmap="viridis")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


CHROMIUM = "/usr/bin/chromium"  # Debian's, as the browser tests use


def key_press_milliseconds(page_path: Path, presses: int = 40) -> list[float] | None:
    """Milliseconds from each key press to its frame on the canvas, as the exported page
    measures them (``window.convvizPlayer.swapTimes``); ``None`` without Chromium."""
    if not os.path.exists(CHROMIUM):
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-ready=yes]")
            page.locator("#frame").focus()
            for i in range(presses):
                page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
            page.wait_for_function(f"window.convvizPlayer.swapTimes.length >= {presses}")
            return list(page.evaluate("window.convvizPlayer.swapTimes"))
        finally:
            browser.close()


def main() -> None:
    from convviz_widgets import LayerBrowser, zoo

    browser = LayerBrowser(zoo.load_model("shapes"), image="star", page_size=16)
    folder = Path(tempfile.mkdtemp())
    browser.export_html(folder / "warm.html")  # the forward pass, once, as in the widget
    started = time.perf_counter()
    page = browser.export_html(folder / "tour.html")
    seconds = time.perf_counter() - started
    frames = sum(-(-int(info.channels) // 16) for info in browser.probe.spatial_layers)
    per_frame = seconds / frames
    # The naive way, timed on three pages of different layers at the frames' own size.
    record = browser.probe.run(browser._input)
    naive = []
    for info in browser.probe.spatial_layers[1::4]:
        maps = record.outputs[info.path]
        channels = np.arange(min(16, maps.shape[-1]))
        grid = browser._grid_of(maps, channels, "channel")
        height, width = grid.indices.shape
        naive.append(median_seconds(lambda maps=maps, channels=channels, width=width,
                                    height=height: subplot_figure_png(
                                        maps, channels, 8, width, height), repeat=3))
    print(f"export: {frames} frames in {seconds * 1e3:.0f} ms, {page.stat().st_size / 2**20:.2f} "
          f"MB")
    report_speedup("export, per frame (matplotlib subplots figure vs pre-rendered frame)",
                   float(np.median(naive)), per_frame, 50)
    report_overhead("the tour's LayerBrowser export, size against 10 MB", 10 * 2**20,
                    page.stat().st_size, 1.0, unit=("MB", 2**-20))
    times = key_press_milliseconds(page)
    if times is None:
        print(f"key press to frame: not measured (no Chromium at {CHROMIUM})")
        return
    report_overhead("exported page, key press to frame (median) against one frame at 60 Hz",
                    16e-3, statistics.median(times) / 1e3, 1.0)


if __name__ == "__main__":
    main()
