"""The kernel-free export: frames per second against matplotlib, and the page's size.

The tour's LayerBrowser (the bundled model on the star, 16 channels a page) is exported whole:
every page of every layer. The naive way to make the same frames is what tutorials do for one
page: a matplotlib figure with one subplot per channel, saved as PNG at the frame's pixel size.
How fast a key press swaps a frame in the page is measured by the browser test
(``tests/browser/test_export_in_browser.py``: median at most 16 ms, one animation frame).
"""

from __future__ import annotations

import io
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


if __name__ == "__main__":
    main()
