"""Tutorial 8×8 matplotlib grid of VGG16 block1_conv1 vs LayerBrowser's render of the same page.

The tutorial (seed S3) draws 64 subplots with ``imshow`` and saves the figure as PNG. We render
the same 64 channels as one mosaic and encode it as PNG, at the same pixel count.
"""

from __future__ import annotations

import io

import numpy as np

from benchmarks.timing import median_seconds, report_speedup
from benchmarks.vgg import photo, preprocess, vgg16


def tutorial_grid_png(maps: np.ndarray) -> tuple[bytes, int]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure = pyplot.figure()  # the tutorial's default figure: 6.4 × 4.8 in at 100 dpi
    for i in range(64):
        axes = figure.add_subplot(8, 8, i + 1)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.imshow(maps[:, :, i], cmap="gray")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    width, height = figure.canvas.get_width_height()
    return buffer.getvalue(), width * height


def main() -> None:
    from convviz_widgets.engine.probe import ActivationProbe
    from convviz_widgets.engine.render import render_channel_grid

    probe = ActivationProbe(vgg16(), preprocess)
    maps = probe.activations(photo(), "block1_conv1")
    _, tutorial_pixels = tutorial_grid_png(maps)
    # Same displayed size: tiles chosen so the mosaic has (about) the tutorial figure's pixels.
    tile = round((np.sqrt(tutorial_pixels) - 7) / 8)
    grid = render_channel_grid(maps, range(64), columns=8, tile=tile, cmap="gray")
    ours_pixels = grid.indices.size
    print(f"grid: tutorial figure {tutorial_pixels} px, ours {ours_pixels} px "
          f"(tiles {grid.tile_shape})")

    naive = median_seconds(lambda: tutorial_grid_png(maps), repeat=5)
    ours = median_seconds(
        lambda: render_channel_grid(maps, range(64), columns=8, tile=tile, cmap="gray").to_png(),
        repeat=21,
    )
    report_speedup("8×8 grid of block1_conv1 (matplotlib savefig vs render+PNG)", naive, ours, 50)


if __name__ == "__main__":
    main()
