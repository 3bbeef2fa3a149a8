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
    "> **Weights.** `zoo.load_model(\"vgg16\")` returns `keras.applications.VGG16` with its "
    "ImageNet weights, from Keras' cache (`~/.keras/models`) or downloaded into it the first "
    "time (528 MB); `convviz fetch vgg16` prepares a machine for a lecture without internet. "
    "Where neither is possible it says so in one sentence; automated runs without a network "
    "set `CONVVIZ_RANDOM_WEIGHTS=1` and get random weights instead, which every widget's status "
    "line then points out (the architecture and every step are the same, but random filters "
    "show no learned features)."
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
            "from convviz_widgets import ActivationProbe, LayerBrowser, zoo\n"
            "from convviz_widgets.export import layer_grid, show_grid\n\n"
            "model = zoo.load_model(\"vgg16\")  # ImageNet weights (see the note above)\n"
            "probe = ActivationProbe(model, zoo.preprocess(\"vgg16\"))\n"
            "print(model.name)\n"
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
    "04_gradcam_every_layer.ipynb": [
        new_markdown_cell(
            "# Grad-CAM for every conv layer of VGG16 (seed S4, technique 4)\n\n"
            "The tutorial computes a Grad-CAM heat map for each of VGG16's 13 conv layers for the "
            "class in its photo: early layers light up on edges everywhere, the last ones on the "
            "object. Here the photo is the bundled cat and the class ImageNet's \"tabby\" (281); "
            "**one** forward and **one** backward pass serve all 13 layers, and `CAMOverlay` "
            "scrubs through them live.\n\n" + VGG_NOTE
        ),
        new_code_cell(
            "import numpy as np\n\n"
            "from convviz_widgets import ActivationProbe, CAMOverlay, zoo\n"
            "from convviz_widgets.engine.cam import cam_sweep\n"
            "from convviz_widgets.export import cam_overlays, show_pictures\n\n"
            "model = zoo.load_model(\"vgg16\")  # ImageNet weights (see the note above)\n"
            "probe = ActivationProbe(model, zoo.preprocess(\"vgg16\"))\n"
            "names = zoo.class_names(\"vgg16\")  # bundled: decoded offline\n"
            "photo = probe.prepare(zoo.load_image(\"cat\"))\n"
            "TABBY = names.index(\"tabby\")\n"
            "scores = probe.predict(photo)\n"
            "print(model.name, \"· top classes:\",\n"
            "      [(names[i], round(float(scores[i]), 3)) for i in np.argsort(-scores)[:3]])"
        ),
        new_markdown_cell("Every conv layer's Grad-CAM for \"tabby\", from one pass:"),
        new_code_cell(
            "sweep = cam_sweep(probe.gradients, photo, TABBY)\n"
            "pictures = cam_overlays(photo.pixels, {path: r.map for path, r in sweep.items()})\n"
            "print(\"backward passes:\", probe.gradients.backward_passes)\n"
            "show_pictures(pictures, columns=5);"
        ),
        new_markdown_cell(
            "The same, live: move the **layer** slider through the 13 conv layers, click a bar "
            "or type any class index."
        ),
        new_code_cell(
            "CAMOverlay(probe, image=photo, target=TABBY, layer=\"block1_conv1\")"
        ),
        new_markdown_cell(
            "## Technique 3: the deconvnet (Zeiler & Fergus, 2014)\n\n"
            "For a layer, the top-4 filters by summed activation are projected back to pixel "
            "space one by one (max-pool switches, rectified gradients, transposed filters), in "
            "one batched backward call. Guided backpropagation and Guided Grad-CAM, its "
            "relatives, come from the same engine."
        ),
        new_code_cell(
            "from convviz_widgets.engine.deconv import deconv_projections\n"
            "from convviz_widgets.engine.saliency import deprocess, guided_backprop, "
            "guided_gradcam\n\n"
            "projections = deconv_projections(probe, photo, \"block4_conv3\", k=4)\n"
            "pictures = {f\"block4_conv3 filter {index}\": deprocess(values)\n"
            "            for index, values in projections}\n"
            "pictures[\"guided backprop\"] = deprocess(guided_backprop(probe, photo, TABBY))\n"
            "pictures[\"guided Grad-CAM\"] = deprocess(\n"
            "    guided_gradcam(probe, photo, \"block5_conv3\", TABBY))\n"
            "show_pictures(pictures, columns=3, width=9);"
        ),
    ],
    "05_binary_heatmap.ipynb": [
        new_markdown_cell(
            "# A heat map for a single-unit sigmoid classifier (seed S0, technique 3)\n\n"
            "Chollet's cats-vs-dogs model ends in `Dense(1, sigmoid)`: one unit, two classes. "
            "The bundled `shapes_circle` model has the same head (\"is there a circle?\"). "
            "Grad-CAM explains the evidence for the positive class (`\"positive\"`), or for "
            "the negative one (`\"negative\"`, the gradient of the logit with the sign "
            "flipped)."
        ),
        new_code_cell(
            "from convviz_widgets import ActivationProbe, CAMOverlay, zoo\n"
            "from convviz_widgets.export import cam_overlays, show_pictures\n"
            "from convviz_widgets.zoo.shapes import make_scene\n\n"
            "model = zoo.load_model(\"shapes_circle\")\n"
            "probe = ActivationProbe(model)\n"
            "scene, masks = make_scene([\"circle\", \"square\"], seed=3)\n"
            "print(\"P(circle) =\", float(probe.predict(scene)[0]))"
        ),
        new_code_cell(
            "maps = {side: probe.cam(scene, \"block4_conv2\", side).map\n"
            "        for side in (\"positive\", \"negative\")}\n"
            "show_pictures({\"image\": scene, **cam_overlays(scene, maps)}, columns=3, width=9);"
        ),
        new_code_cell(
            "CAMOverlay(probe, image=scene, class_names=zoo.class_names(\"shapes_circle\"))"
        ),
    ],
    "06_cam_tour.ipynb": [
        new_markdown_cell(
            "# Class activation maps on two-shape scenes: which method, which layer, and can we "
            "trust it?\n\n"
            "Each scene holds two shapes, and the generator knows where they are, so we can "
            "check where each map points (the pointing game), whether deleting the pixels it "
            "ranks first destroys the prediction (deletion and insertion curves, Petsiuk et al., "
            "2018), and whether it changes when the model's weights are randomized "
            "(Adebayo et al., 2018)."
        ),
        new_code_cell(
            "import os\n\n"
            "import numpy as np\n\n"
            "from convviz_widgets import ActivationProbe, CAMOverlay, zoo\n"
            "from convviz_widgets.engine.cam import METHODS\n"
            "from convviz_widgets.engine.faithfulness import (\n"
            "    causal_curves,\n"
            "    paper_tolerance,\n"
            "    pointing_game,\n"
            "    randomization_check,\n"
            "    target_probability,\n"
            ")\n"
            "from convviz_widgets.zoo.shapes import make_scene, two_shape_scenes\n\n"
            "probe = ActivationProbe(zoo.load_model(\"shapes\"))\n"
            "names = zoo.class_names(\"shapes\")\n"
            "scene, masks = make_scene([\"star\", \"triangle\"], seed=5)"
        ),
        new_markdown_cell(
            "Click a bar to explain another class, move the layer slider, switch the method, "
            "and turn on **deletion / insertion** to measure the map shown."
        ),
        new_code_cell(
            "overlay = CAMOverlay(probe, image=scene, class_names=names)\n"
            "overlay.show_curves = True\n"
            "overlay"
        ),
        new_markdown_cell(
            "The pointing game for every method on the last conv layer (`CONVVIZ_MAX_STEPS` "
            "caps the number of scenes when the notebooks run as tests):"
        ),
        new_code_cell(
            "scenes = list(two_shape_scenes(int(os.environ.get(\"CONVVIZ_MAX_STEPS\", 40))))\n"
            "tolerance = paper_tolerance(64)  # the paper's 15 px at 224 px\n"
            "for method in METHODS:\n"
            "    def explain(image, index, method=method):\n"
            "        return probe.cam(image, \"block4_conv2\", index, method).upsampled\n"
            "    strict = pointing_game(explain, scenes, names)\n"
            "    near = pointing_game(explain, scenes, names, tolerance)\n"
            "    print(f\"{method:16s} on the shape {strict:.0%}, within {tolerance:.1f} px \"\n"
            "          f\"{near:.0%}\")"
        ),
        new_markdown_cell("Deletion and insertion AUCs of each method for the star:"),
        new_code_cell(
            "score = target_probability(probe, names.index(\"star\"))\n"
            "for method in METHODS:\n"
            "    cam = probe.cam(scene, \"block4_conv2\", names.index(\"star\"), method)\n"
            "    curves = causal_curves(score, scene.astype(np.float32), cam.upsampled)\n"
            "    print(f\"{method:16s} deletion AUC {curves.deletion_auc:.3f}  \"\n"
            "          f\"insertion AUC {curves.insertion_auc:.3f}\")"
        ),
        new_markdown_cell(
            "The randomization sanity check: randomize the classifier, then the last conv "
            "layers, and compare each map with the trained model's (Spearman rank correlation; "
            "a faithful method's maps change)."
        ),
        new_code_cell(
            "cascade = [\"predictions\", \"block4_conv2\", \"block4_conv1\"]\n"
            "probes = {id(probe.model): probe}  # one probe per model: traced once each\n"
            "for method in METHODS:\n"
            "    def explain(model, image, method=method):\n"
            "        if id(model) not in probes:\n"
            "            probes[id(model)] = ActivationProbe(model)\n"
            "        return probes[id(model)].cam(image, \"block4_conv2\", names.index(\"star\"),\n"
            "                                     method).map\n"
            "    steps = randomization_check(explain, probe.model, scene, cascade)\n"
            "    print(f\"{method:16s}\", \"  \".join(f\"{s.rank_correlation:+.2f}\" "
            "for s in steps[1:]))"
        ),
    ],
    "07_filter_patterns_vgg16.ipynb": [
        new_markdown_cell(
            "# What VGG16's filters respond to, by gradient ascent (seed S2)\n\n"
            "Chollet's *Deep Learning with Python* (§5.4) starts from gray noise and climbs the "
            "gradient of one filter's mean activation for 40 steps (normalized by its RMS), one "
            "filter at a time, with TF1 calls that no longer run on Keras 3. Here every filter "
            "of a page is optimized **in one batch**, on VGG16 truncated at the target layer, "
            "with the same settings (`preset=\"tutorial\"`).\n\n" + VGG_NOTE
        ),
        new_code_cell(
            "import os\n\n"
            "import numpy as np\n\n"
            "from convviz_widgets import FilterGallery, zoo\n"
            "from convviz_widgets.engine.featvis import TUTORIAL, precompute\n"
            "from convviz_widgets.engine.render import mosaic\n"
            "from convviz_widgets.export import show_grid\n\n"
            "model = zoo.load_model(\"vgg16\")  # ImageNet weights (see the note above)\n"
            "print(model.name)\n"
            "# The tutorial shows 64 filters per layer, minutes on a CPU: this notebook shows 4\n"
            "# unless CONVVIZ_MAX_FILTERS says otherwise (64 for the tutorial's full run).\n"
            "FILTERS = int(os.environ.get(\"CONVVIZ_MAX_FILTERS\", 4))"
        ),
        new_markdown_cell("Filter 0 of `block3_conv1` (the tutorial's polka dots, with "
                          "ImageNet weights):"),
        new_code_cell(
            "(pattern,) = precompute(model, \"block3_conv1\", [0], TUTORIAL)\n"
            "print(\"objective:\", pattern.history[0], \"→\", pattern.history[-1],\n"
            "      \"(dead)\" if pattern.dead else \"\")\n"
            "show_grid(pattern.pixels, \"block3_conv1, filter 0\", width=4);"
        ),
        new_markdown_cell("The first `FILTERS` filters of the first conv layer of each block "
                          "(each line printed as a layer is done):"),
        new_code_cell(
            "import time\n\n"
            "for block in range(1, 6):\n"
            "    layer = f\"block{block}_conv1\"\n"
            "    started = time.perf_counter()\n"
            "    patterns = precompute(model, layer, range(FILTERS), TUTORIAL, batch_size=16)\n"
            "    print(f\"{layer}: {FILTERS} patterns in {time.perf_counter() - started:.1f} s\")\n"
            "    tiles = np.stack([p.pixels for p in patterns])\n"
            "    dead = sum(p.dead for p in patterns)\n"
            "    show_grid(mosaic(tiles, 8, gap=3, fill=(255, 255, 255)),\n"
            "              f\"{layer}: first {FILTERS} filters ({dead} dead)\", width=8)"
        ),
        new_markdown_cell("Live: press **Run** to compute a page, watch it fill in, "
                          "**Cancel** at any time; click a tile to see its kernel and curve."),
        new_code_cell("FilterGallery(model, layer=\"block3_conv1\")"),
    ],
    "08_kernels_vgg16.ipynb": [
        new_markdown_cell(
            "# VGG16's kernels (seed S3, filters)\n\n"
            "The tutorial prints every conv layer's kernel shape, then plots the first 6 "
            "filters of `block1_conv1` with each of their 3 input channels as a grayscale "
            "tile, weights min–max normalized over the layer: dark is small or inhibitory, "
            "light is large or excitatory.\n\n" + VGG_NOTE
        ),
        new_code_cell(
            "from convviz_widgets import FilterGallery, zoo\n"
            "from convviz_widgets.engine.kernels import kernel_channel_grid\n"
            "from convviz_widgets.export import show_grid\n\n"
            "model = zoo.load_model(\"vgg16\")  # ImageNet weights (see the note above)\n"
            "print(model.name)\n"
            "for layer in model.layers:\n"
            "    if type(layer).__name__ == \"Conv2D\":\n"
            "        print(layer.name, tuple(layer.kernel.shape))"
        ),
        new_code_cell(
            "grid = kernel_channel_grid(model.get_layer(\"block1_conv1\"), count=6, zoom=24)\n"
            "show_grid(grid, \"block1_conv1: 6 filters (rows) × R, G, B (columns)\", width=3);"
        ),
        new_markdown_cell("Every filter of every conv layer, live (colour for the first layer, "
                          "the L2 norm over input channels for deeper ones):"),
        new_code_cell("FilterGallery(model, layer=\"block1_conv1\", mode=\"weights\")"),
    ],
    "09_filter_gallery_shapes.ipynb": [
        new_markdown_cell(
            "# A gallery of the bundled model's filters\n\n"
            "The bundled shapes model is trained, so its patterns mean something: edges and "
            "colours in `block1`, corners, arcs and points deeper in. A lecturer can compute a "
            "gallery ahead of time (`precompute` or the **Run** button) and show it instantly."
        ),
        new_code_cell(
            "import tempfile\n\n"
            "from convviz_widgets import FilterGallery, zoo\n"
            "from convviz_widgets.engine.featvis import PatternCache, precompute\n\n"
            "model = zoo.load_model(\"shapes\")\n"
            "gallery = FilterGallery(model, layer=\"block4_conv2\")\n"
            "gallery.run(wait=True)  # in a live notebook, press Run: it streams\n"
            "gallery"
        ),
        new_markdown_cell("The \"clean\" preset (FFT, decorrelated colour, transforms, "
                          "regularizers) gives pictures that look less like noise:"),
        new_code_cell(
            "gallery.preset = \"clean\"\n"
            "gallery.run(wait=True)\n"
            "print(gallery.status)"
        ),
        new_markdown_cell("Precompute a layer to disk before a lecture; open it later with no "
                          "optimization at all:"),
        new_code_cell(
            "folder = tempfile.mkdtemp()\n"
            "precompute(model, \"block2_conv1\", range(32), \"tutorial\", folder)\n"
            "later = FilterGallery(zoo.load_model(\"shapes\"), layer=\"block2_conv1\",\n"
            "                      cache=PatternCache(folder))\n"
            "print(later.status)\n"
            "later"
        ),
    ],
    "10_explorer.ipynb": [
        new_markdown_cell(
            "# Explorer: one channel, every view of it\n\n"
            "*This channel lights up on the star's tip: what does its filter look for? Which "
            "images of the data set excite it most? Does it push the decision towards "
            "\"star\"?* The Explorer answers these together: the layer's feature maps (click a "
            "tile, or `,` `.` over the grid), a **card** for the selected channel (its map on "
            "the image, its kernel, its maximizing pattern, its top dataset examples and its "
            "contribution to the class), the class evidence (click a class bar), and the "
            "channels **ranked** by their contribution to that class (click a bar to select "
            "the channel everywhere).\n\n"
            "First the data set is indexed: for every conv layer, the 8 images whose maximum "
            "activation is largest per channel, and the receptive field of that maximum, in one "
            "streaming pass (memory stays the same however large the data set)."
        ),
        new_code_cell(
            "import time\n\n"
            "from convviz_widgets import Explorer, zoo\n"
            "from convviz_widgets.engine.examples import build_index\n"
            "from convviz_widgets.export import show_pictures\n\n"
            "model = zoo.load_model(\"shapes\")\n"
            "names = zoo.class_names(\"shapes\")\n"
            "images, labels = zoo.shapes_dataset(2000)\n"
            "started = time.perf_counter()\n"
            "index = build_index(model, images, k=8)\n"
            "print(f\"indexed {index.seen} images for {len(index.layers)} conv layers in \"\n"
            "      f\"{time.perf_counter() - started:.1f} s ({index.nbytes / 2**20:.1f} MiB)\")"
        ),
        new_markdown_cell(
            "The top examples of a few channels of the last conv layer, as the card shows "
            "them (each thumbnail is the receptive field of the channel's maximum in that image):"
        ),
        new_code_cell(
            "pictures = {}\n"
            "for channel in range(4):\n"
            "    for rank, example in enumerate(index.examples(\"block4_conv2\", channel)[:4]):\n"
            "        label = names[labels[example.image]]\n"
            "        pictures[f\"ch {channel} #{rank + 1}: {label}\"] = example.crop\n"
            "show_pictures(pictures, columns=8);"
        ),
        new_markdown_cell(
            "The Explorer on the star. Try: click a tall bar of the ranking (a channel that "
            "pushes towards \"star\"), then a class bar to see how the ranking changes."
        ),
        new_code_cell(
            "explorer = Explorer(model, image=\"star\", index=index, class_names=names,\n"
            "                    layer=\"block4_conv2\")\n"
            "explorer"
        ),
        new_markdown_cell(
            "The same state from code: the card, the grid and the ranking follow."
        ),
        new_code_cell(
            "top = explorer.ranking_bars.x[0]\n"
            "explorer.channel = int(top)\n"
            "print(explorer.contribution_line.value)"
        ),
        new_markdown_cell(
            "## VGG16 over a folder of photos\n\n"
            "Any folder of images can be indexed (recursively; unreadable files are skipped "
            "and counted). Here: the bundled photos with their mirror images and two crops each, "
            "written to a temporary folder; the index is kept in a folder of its own, so "
            "opening it again (in a lecture, say) is instant.\n\n" + VGG_NOTE
        ),
        new_code_cell(
            "import tempfile\n"
            "from pathlib import Path\n\n"
            "from PIL import Image\n\n"
            "photos = Path(tempfile.mkdtemp())\n"
            "for name in [\"cat\", \"coffee\", \"astronaut\", \"rocket\"]:\n"
            "    picture = Image.fromarray(zoo.load_image(name))\n"
            "    w, h = picture.size\n"
            "    picture.save(photos / f\"{name}.png\")\n"
            "    flipped = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)\n"
            "    flipped.save(photos / f\"{name}-flip.png\")\n"
            "    picture.crop((0, 0, w * 2 // 3, h * 2 // 3)).save(photos / f\"{name}-a.png\")\n"
            "    picture.crop((w // 3, h // 3, w, h)).save(photos / f\"{name}-b.png\")\n\n"
            "vgg = zoo.load_model(\"vgg16\")\n"
            "started = time.perf_counter()\n"
            "vgg_index = build_index(vgg, photos, [\"block3_conv3\", \"block5_conv3\"], k=4,\n"
            "                        preprocess=zoo.preprocess(\"vgg16\"),\n"
            "                        folder=Path(tempfile.mkdtemp()) / \"vgg16-photos\")\n"
            "print(f\"indexed {vgg_index.seen} photos in {time.perf_counter() - started:.1f} s\")"
        ),
        new_code_cell(
            "Explorer(vgg, image=\"cat\", index=vgg_index, preprocess=zoo.preprocess(\"vgg16\"),\n"
            "         class_names=zoo.class_names(\"vgg16\"), layer=\"block5_conv3\")"
        ),
    ],
    "11_training_timeline.ipynb": [
        new_markdown_cell(
            "# How did it learn that? Every view through training\n\n"
            "The package ships a recorded training of the bundled shapes model "
            "(`zoo.load_timeline(\"shapes\")`: the weights before training, after epochs 1–6, "
            "8, 10 and 12, and after the equivariance fine-tuning, as epoch 16). Every widget "
            "given the timeline gets an **epoch** slider and the training curves (click a point "
            "to jump to its epoch); the timeline swaps each epoch's weights into one model, so "
            "nothing is rebuilt or traced again, and widgets on the same timeline move together."
        ),
        new_code_cell(
            "import os\n"
            "import tempfile\n\n"
            "import matplotlib.pyplot as plt\n\n"
            "from convviz_widgets import CAMOverlay, FilterGallery, LayerBrowser, zoo\n"
            "from convviz_widgets.callbacks import CheckpointRecorder\n"
            "from convviz_widgets.engine.faithfulness import pointing_game\n"
            "from convviz_widgets.engine.probe import ActivationProbe\n"
            "from convviz_widgets.engine.timeline import Timeline\n"
            "from convviz_widgets.zoo.shapes import make_scene, two_shape_scenes\n\n"
            "timeline = zoo.load_timeline(\"shapes\")\n"
            "names = zoo.class_names(\"shapes\")\n"
            "print(\"recorded epochs:\", timeline.epochs)\n"
            "print({name: [None if v is None else round(v, 3) for v in values]\n"
            "       for name, values in timeline.metrics().items()})"
        ),
        new_markdown_cell(
            "**First-layer kernels from noise to edges.** Mode `\"weights by epoch\"` shows the "
            "page's kernels at every recorded epoch at once, one row per epoch (colour: the "
            "first layer sees RGB)."
        ),
        new_code_cell(
            "FilterGallery(timeline, layer=\"block1_conv1\", mode=\"weights by epoch\", "
            "page_size=16, tile=40)"
        ),
        new_markdown_cell(
            "**The feature maps of one image through training.** Move the epoch slider (or click "
            "the curves): the grid is redrawn from the weights of that epoch."
        ),
        new_code_cell(
            "browser = LayerBrowser(timeline, image=\"star\", layer=\"block2_conv1\",\n"
            "                       page_size=16, class_names=names)\n"
            "browser"
        ),
        new_markdown_cell(
            "**Where the model looks, epoch by epoch.** Grad-CAM's pointing game on two-shape "
            "scenes (the share of shapes whose map peaks on the shape itself) for every recorded "
            "epoch: the classifier learns the classes within the first epochs, but its evidence "
            "settles on the shapes only with the equivariance fine-tuning (epoch 16). "
            "(`CONVVIZ_MAX_STEPS` caps the number of scenes when the notebooks run as tests.)"
        ),
        new_code_cell(
            "scenes = list(two_shape_scenes(int(os.environ.get(\"CONVVIZ_MAX_STEPS\", 40))))\n"
            "probe = ActivationProbe(timeline.model)\n"
            "rates = []\n"
            "for epoch in timeline.epochs:\n"
            "    timeline.show(epoch)  # the same model, other weights: the caches know\n"
            "    rates.append(pointing_game(\n"
            "        lambda image, k: probe.cam(image, \"block4_conv2\", k).upsampled,\n"
            "        scenes, names))\n"
            "figure, axes = plt.subplots(figsize=(6, 3))\n"
            "axes.plot(timeline.epochs, rates, marker=\"o\")\n"
            "axes.set(xlabel=\"epoch\", ylabel=\"peak on the shape\", ylim=(0, 1))\n"
            "axes.grid(alpha=0.3)\n"
            "print({epoch: round(float(rate), 2)\n"
            "       for epoch, rate in zip(timeline.epochs, rates, strict=True)})"
        ),
        new_markdown_cell(
            "**The first and the last epoch side by side.** `compare=0` draws epoch 0 beside the "
            "epoch shown, with the same scaling, and the difference (shown − epoch 0) on a "
            "diverging colormap, white where nothing changed."
        ),
        new_code_cell(
            "scene, masks = make_scene([\"star\", \"triangle\"], seed=5)\n"
            "timeline.show(16)\n"
            "CAMOverlay(timeline, image=scene, compare=0, class_names=names)"
        ),
        new_code_cell(
            "LayerBrowser(timeline, image=\"star\", layer=\"block1_conv2\", page_size=16, "
            "compare=0)"
        ),
        new_markdown_cell(
            "**Record your own.** `CheckpointRecorder(folder)` in `model.fit`'s callbacks writes "
            "the weights before training and after every epoch (`every=`, `epochs=`, "
            "`dtype=\"float16\"` to halve the size). Three short epochs of the bundled "
            "architecture on 1,000 fresh shapes take a few seconds:"
        ),
        new_code_cell(
            "import keras\n\n"
            "from convviz_widgets.zoo.shapes import make_dataset\n"
            "from convviz_widgets.zoo.train import build_shapes_model\n\n"
            "x, labels = make_dataset(1000, seed=3)\n"
            "model = build_shapes_model()\n"
            "model.compile(optimizer=\"adam\", loss=\"sparse_categorical_crossentropy\",\n"
            "              metrics=[\"accuracy\"])\n"
            "folder = tempfile.mkdtemp()\n"
            "model.fit(x, labels, epochs=3, batch_size=64, validation_split=0.2, verbose=0,\n"
            "          callbacks=[CheckpointRecorder(folder)])\n"
            "mine = Timeline(folder, model=model)\n"
            "LayerBrowser(mine, image=\"circle\", layer=\"block1_conv1\", page_size=16)"
        ),
    ],
}


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        for index, cell in enumerate(cells):  # stable ids: regenerating changes nothing
            cell.id = f"cell-{index:02d}"
        notebook = new_notebook(cells=cells, metadata=KERNEL)
        nbformat.write(notebook, ROOT / name)
        print("wrote", ROOT / name)


if __name__ == "__main__":
    main()
