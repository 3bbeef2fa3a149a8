"""Write the notebooks under notebooks/ from the cell sources below (no outputs).

Run ``python scripts/make_notebooks.py`` after editing; the tests execute every notebook.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                         "name": "python3"},
          "language_info": {"name": "python"}}

VGG_NOTE = (
    "> **Weights.** This machine has no internet, so VGG16 is built with `weights=None` "
    "(random weights): the *architecture* and every step are the tutorial's, but the maps show "
    "what random filters do. Where the internet is reachable, use `weights=\"imagenet\"` to see "
    "the learned features the tutorial shows."
)

NOTEBOOKS = {
    "01_tour.ipynb": [
        new_markdown_cell(
            "# A tour of convviz_widgets\n\n"
            "`LayerBrowser` shows every channel of a layer's feature maps for one image, live. "
            "It runs the network **once** per image and serves every layer from that pass, so "
            "scrubbing layers, pages, colormaps and normalizations only redraws pixels.\n\n"
            "The bundled model is a small VGG-style CNN trained on procedurally generated shapes "
            "(`python -m convviz_widgets.zoo.train` retrains it); nothing is downloaded."
        ),
        new_code_cell(
            "from convviz_widgets import LayerBrowser, zoo\n\n"
            "model = zoo.load_model(\"shapes\")\n"
            "print(zoo.class_names(\"shapes\"), zoo.image_names())"
        ),
        new_markdown_cell(
            "Move the **layer** slider (or pick from the list), page through wide layers, change "
            "the colormap and normalization, click a tile to enlarge one channel."
        ),
        new_code_cell(
            "browser = LayerBrowser(model, image=\"star\", page_size=16,\n"
            "                       class_names=zoo.class_names(\"shapes\"))\n"
            "browser"
        ),
        new_markdown_cell(
            "The traits are the API: setting them from a cell does what the controls do."
        ),
        new_code_cell(
            "print(browser.status)\n"
            "[info.describe() for info in browser.probe.spatial_layers]"
        ),
        new_code_cell(
            "photo = LayerBrowser(model, image=\"cat\", layer=\"block1_conv2\", cmap=\"magma\",\n"
            "                     norm=\"layer\", class_names=zoo.class_names(\"shapes\"))\n"
            "photo"
        ),
        new_markdown_cell("`snapshot()` returns the grid on display; `save()` writes it as PNG."),
        new_code_cell(
            "import pathlib\n"
            "import tempfile\n\n"
            "grid = browser.snapshot()\n"
            "path = browser.save(pathlib.Path(tempfile.mkdtemp()) / \"grid.png\")\n"
            "print(grid.shape, grid.dtype, path.name)\n"
            "print(\"forward passes so far:\", browser.probe.forward_passes)"
        ),
    ],
    "02_shapes_activations.ipynb": [
        new_markdown_cell(
            "# Intermediate activations of a shapes CNN (seed S1)\n\n"
            "The tutorial builds `Model(inputs, [outputs of the first 12 layers])`, predicts once, "
            "shows channel 4 of the first layer with `viridis`, then every channel of every layer. "
            "Here the bundled shapes model (a VGG-style CNN, 64×64 RGB) plays the tutorial's role, "
            "and one `ActivationProbe` pass serves all layers."
        ),
        new_code_cell(
            "import numpy as np\n\n"
            "from convviz_widgets import ActivationProbe, LayerBrowser, zoo\n"
            "from convviz_widgets.export import layer_grid, show_grid\n\n"
            "model = zoo.load_model(\"shapes\")\n"
            "probe = ActivationProbe(model)\n"
            "image = zoo.load_image(\"triangle\")\n"
            "scores = probe.predict(image)\n"
            "print(\"prediction:\", zoo.class_names(\"shapes\")[int(np.argmax(scores))])"
        ),
        new_markdown_cell("Channel 4 of the first layer, enlarged, in `viridis`:"),
        new_code_cell(
            "browser = LayerBrowser(probe, image=image, layer=\"block1_conv1\", cmap=\"viridis\")\n"
            "browser.channel = 4\n"
            "browser"
        ),
        new_markdown_cell(
            "Every channel of every layer, 16 per row, each channel normalized for display. "
            "First layers keep the whole shape; deeper ones become abstract (edges, corners); "
            "some channels stay blank — they are counted as dead."
        ),
        new_code_cell(
            "from convviz_widgets.engine.render import dead_channels\n\n"
            "for info in probe.spatial_layers:\n"
            "    maps = probe.activations(image, info.path)\n"
            "    grid = layer_grid(probe, image, info.path, columns=16, tile=32)\n"
            "    dead = int(dead_channels(maps).sum())\n"
            "    show_grid(grid, f\"{info.describe()} — {dead} dead channels\", width=8)\n"
            "print(\"forward passes:\", probe.forward_passes)"
        ),
    ],
    "03_vgg16_feature_maps.ipynb": [
        new_markdown_cell(
            "# Feature maps of VGG16 (seed S3)\n\n"
            "The tutorial plots all 64 maps of `block1_conv1` as an 8×8 gray grid for a photo at "
            "224×224 with VGG preprocessing, then the first 64 maps of the last conv layer of "
            "each block (detail fades block by block).\n\n" + VGG_NOTE
        ),
        new_code_cell(
            "import keras\n\n"
            "from convviz_widgets import ActivationProbe, LayerBrowser, zoo\n"
            "from convviz_widgets.export import layer_grid, show_grid\n\n"
            "model = keras.applications.VGG16(weights=None)  # weights=\"imagenet\" online\n"
            "preprocess = keras.applications.vgg16.preprocess_input\n"
            "probe = ActivationProbe(model, preprocess)\n"
            "photo = zoo.load_image(\"coffee\")  # resized to 224×224 by the probe\n"
            "for info in probe.spatial_layers:\n"
            "    if info.kind == \"conv\":\n"
            "        print(info.path, info.layer.kernel.shape)"
        ),
        new_markdown_cell("All 64 maps of `block1_conv1`, 8×8, gray:"),
        new_code_cell(
            "grid = layer_grid(probe, photo, \"block1_conv1\", columns=8, tile=96, cmap=\"gray\")\n"
            "show_grid(grid, \"block1_conv1\", width=8);"
        ),
        new_markdown_cell("The first 64 maps of the last conv of each block:"),
        new_code_cell(
            "last_convs = [\"block1_conv2\", \"block2_conv2\", \"block3_conv3\",\n"
            "              \"block4_conv3\", \"block5_conv3\"]\n"
            "for layer in last_convs:\n"
            "    grid = layer_grid(probe, photo, layer, range(64), columns=8, tile=64, "
            "cmap=\"gray\")\n"
            "    show_grid(grid, layer, width=6)\n"
            "print(\"forward passes:\", probe.forward_passes)"
        ),
        new_markdown_cell("The same, live:"),
        new_code_cell(
            "LayerBrowser(probe, image=photo, layer=\"block1_conv1\", cmap=\"gray\")"
        ),
    ],
}


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells, metadata=KERNEL)
        nbformat.write(notebook, ROOT / name)
        print("wrote", ROOT / name)


if __name__ == "__main__":
    main()
