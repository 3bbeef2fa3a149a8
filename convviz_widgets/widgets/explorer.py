"""Explorer: feature maps, one channel's card, dataset examples and class evidence, linked."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets
from traitlets import Enum, Int, Unicode, observe, validate

from ..engine.contributions import BY, channel_contributions
from ..engine.examples import ExampleIndex, build_index, load_index
from ..engine.featvis import pattern_steps, shared_pattern_cache
from ..engine.featvis import preset as preset_settings
from ..engine.images import ImageInput
from ..engine.layers import check_channel
from ..engine.maps import upsample
from ..engine.render import (
    apply_colormap,
    encode_png,
    enlarge,
    heatmap_overlay,
    mosaic,
)
from .base import ConvvizWidget, PictureFigure, column, one_sentence, wrapping_row
from .cam_overlay import CAMOverlay
from .controls import TakesImage
from .filter_gallery import fit_tile, kernel_pictures
from .layer_browser import LayerBrowser
from .theme import check_theme, current_theme

#: Channels shown in the contribution ranking.
RANKED = 16
#: Edge in pixels of the card's pictures.
CARD = 160
EXAMPLE_TILE = 64
PENDING = 200  # light grey of a picture not computed yet


class Explorer(TakesImage, ConvvizWidget):
    """One instrument over a model: a layer's feature maps, one channel's card (its map on the
    image, kernel, maximizing pattern, top dataset examples and contribution to a class), the
    class evidence, and the channels ranked by their contribution.

    The views share one state: :attr:`image`, :attr:`layer`, :attr:`channel`,
    :attr:`class_index` and :attr:`method`. Clicking a tile of the grid (or ``,`` / ``.`` over
    it) selects a channel; clicking a class bar explains that class; clicking a ranking bar
    selects that channel everywhere. Nothing is computed twice: the grid, the CAM and the card
    read the one probe's cached forward pass and the one gradient record (the ranking costs no
    pass beyond the CAM's); patterns come from the shared pattern cache, examples from an
    :class:`~convviz_widgets.engine.examples.ExampleIndex`.

    Parameters
    ----------
    model : keras.Model
    image : array, PIL image, path, bytes or a sample's name, optional
    dataset : array, folder, tf.data.Dataset or iterable, optional
        Indexed in the background (a progress line and a Cancel button) for the top examples
        of every conv layer's channels; see :func:`~convviz_widgets.engine.build_index`.
    index : ExampleIndex or folder, optional
        A prepared index (or the folder of one), shown at once. With ``dataset``, the folder
        where the index is kept: a stopped build resumes there, a finished one opens at once.
    class_names : sequence of str, optional
    preprocess : callable, optional
        The model's preprocessing.
    layer : str, optional
        The conv layer to start on (default: the last).
    k : int
        Top examples kept per channel (default 8).
    ranking : {"contribution", "weight"}
        What the ranking orders channels by: gradient × activation summed over space
        (default), or the Grad-CAM weight (the mean gradient).
    preset : str
        Settings of the maximizing patterns, as in :class:`FilterGallery` (``"tutorial"`` or
        ``"clean"``); a pattern is optimized in the background when its channel is first
        selected, then served from the shared pattern cache.
    theme : str, optional
        ``"default"`` or ``"projector"``.

    Examples
    --------
    >>> from convviz_widgets import Explorer, zoo
    >>> images, _ = zoo.shapes_dataset(200)
    >>> explorer = Explorer(zoo.load_model("shapes"), image="star", dataset=images,
    ...                     class_names=zoo.class_names("shapes"))  # doctest: +SKIP
    >>> explorer.channel = 5  # the card, the grid and the ranking follow  # doctest: +SKIP
    """

    layer = Unicode(help="Path of the conv layer shown and explained.")
    channel = Int(0, help="The channel on the card.")
    class_index = Int(0, help="The class explained and ranked for.")
    method = Unicode("gradcam", help="Explanation method of the class evidence.")
    ranking = Enum(BY, default_value="contribution",
                   help="What the ranking orders channels by: 'contribution' (gradient × "
                        "activation summed over space) or 'weight' (Grad-CAM's mean gradient).")

    def __init__(self, model: Any, image: Any = "star", dataset: Any = None, *,
                 index: ExampleIndex | str | Path | None = None,
                 class_names: Sequence[str] | None = None,
                 preprocess: Callable[[np.ndarray], Any] | None = None,
                 layer: str | None = None, k: int = 8, ranking: str = "contribution",
                 preset: str = "tutorial", theme: str | None = None) -> None:
        theme = check_theme(theme if theme is not None else current_theme())
        if isinstance(index, ExampleIndex) and dataset is not None:
            raise ValueError("give either a prepared index or a data set to index (with "
                             "index= the folder to keep it in), not both.")
        self.cam = CAMOverlay(model, image, layer=layer, preprocess=preprocess,
                              class_names=class_names, theme=theme)
        self.probe = self.cam.probe
        conv_layers = [info.path for info in self.cam.explainer.layers]
        start = layer if layer is not None else conv_layers[-1]
        self.browser = LayerBrowser(self.probe, image, start, class_names=class_names,
                                    page_size=16, columns=8, grid_width=480, theme=theme)
        self.class_names = list(class_names) if class_names is not None else None
        self._conv_layers = conv_layers
        self._index: ExampleIndex | None = None
        self._index_note = "no data set given: Explorer(..., dataset=images) indexes one"
        self._ranked: list[int] = []
        self._input: ImageInput | None = None
        self._pattern_lock = threading.Lock()
        self._pattern_wanted: tuple[str, int] | None = None
        self._pattern_busy = False
        self._pictures: dict[tuple, tuple[bytes, int, int]] = {}
        self._backdrop_of: tuple[str, np.ndarray] | None = None
        self._bars_shown: tuple[tuple[int, ...], bytes] | None = None
        self._preset = preset_settings(preset)
        self._build_card()
        self._build_ranking()
        self.cancel_button = widgets.Button(description="Cancel indexing", icon="stop")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="indexing")
        self.progress.add_class("convviz-index-progress")
        self.index_box = wrapping_row([self.progress, self.cancel_button])
        self.index_box.layout.display = "none"
        super().__init__(theme=theme)
        self.add_class("convviz-explorer")
        with self._batch():
            self.layer = self.browser.layer
            self.class_index = self.cam.class_index
            self.method = self.cam.method
            self.ranking = ranking
            self.image = image
        traitlets.link((self, "layer"), (self.browser, "layer"))
        traitlets.link((self, "channel"), (self.browser, "channel"))
        traitlets.link((self, "class_index"), (self.cam, "class_index"))
        traitlets.link((self, "method"), (self.cam, "method"))
        self.children = [self.browser, wrapping_row([self.card, self.ranking_box]), self.cam,
                         self.index_box, self._footer()]
        if isinstance(index, ExampleIndex):
            self._index, self._index_note = index, ""
        elif index is not None and dataset is None:
            self._index, self._index_note = load_index(index, self.probe.model), ""
        if dataset is not None:
            self._index_note = "indexing the data set…"
        self._refresh()  # before the index is built: what the build says is not overwritten
        if dataset is not None:
            self._start(self._build_index, dataset, index, int(k))

    # -- layout -------------------------------------------------------------------------------
    def _build_card(self) -> None:
        self.card_title = widgets.HTML()
        self.card_title.add_class("convviz-card-title")
        self.channel_view = PictureFigure("convviz-card-map")
        self.kernel_view = PictureFigure("convviz-card-kernel")
        self.pattern_view = PictureFigure("convviz-card-pattern")
        self.weighted_view = PictureFigure("convviz-card-weighted")
        for view in (self.channel_view, self.kernel_view, self.pattern_view, self.weighted_view):
            view.figure.layout.width = view.figure.layout.height = f"{CARD}px"
        self.examples_view = PictureFigure("convviz-card-examples")
        self.examples_note = widgets.HTML()
        self.examples_note.add_class("convviz-card-examples-note")
        self.contribution_line = widgets.HTML()
        self.contribution_line.add_class("convviz-card-contribution")

        def captioned(text: str, view: PictureFigure) -> widgets.VBox:
            return column([widgets.HTML(f"<b>{html.escape(text)}</b>"), view.figure])

        self.card = column([
            self.card_title,
            wrapping_row([captioned("map on the image", self.channel_view),
                          captioned("kernel", self.kernel_view),
                          captioned("pattern", self.pattern_view),
                          captioned("weighted map (α·A)", self.weighted_view)]),
            self.contribution_line,
            widgets.HTML("<b>top dataset examples</b> (the receptive field of the maximum)"),
            self.examples_view.figure, self.examples_note,
        ])
        self.card.add_class("convviz-card")

    def _build_ranking(self) -> None:
        x_scale = bqplot.OrdinalScale()
        y_scale = bqplot.LinearScale()
        colour = bqplot.ColorScale(min=0.0, max=1.0, colors=["#8fa9c9", "#e4572e"])
        self.ranking_bars = bqplot.Bars(x=["0"], y=[0.0], color=[0.0],
                                        scales={"x": x_scale, "y": y_scale, "color": colour},
                                        interactions={"click": "select"})
        self.ranking_bars.on_element_click(self._on_ranking_click)
        self.ranking_chart = bqplot.Figure(
            display_toolbar=False, marks=[self.ranking_bars],
            axes=[bqplot.Axis(scale=x_scale, label="channel"),
                  bqplot.Axis(scale=y_scale, side="left", num_ticks=5,
                              tick_format=".2~g")],
            fig_margin={"top": 40, "bottom": 45, "left": 55, "right": 10},
            layout=widgets.Layout(width="440px", height="260px", max_width="100%"))
        self.ranking_chart.add_class("convviz-ranking")
        self.ranking_picker = widgets.ToggleButtons(options=list(BY), value=self.ranking,
                                                    description="rank by")
        self.ranking_picker.observe(lambda change: setattr(self, "ranking", change["new"]),
                                    "value")
        self.ranking_box = column([self.ranking_chart, self.ranking_picker])

    # -- validation ---------------------------------------------------------------------------
    @validate("layer")
    def _validate_layer(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            return self.probe.layer(proposal["value"]).path

    @validate("channel")
    def _validate_channel(self, proposal: dict[str, Any]) -> int:
        with self._rejecting_bad_values():
            value = int(proposal["value"])
            if not self.layer:
                return value
            return check_channel(value, self.layer,
                                 int(self.probe.layer(self.layer).channels or 0))

    # -- reactions ----------------------------------------------------------------------------
    @observe("image")
    def _on_image(self, change: dict[str, Any]) -> None:
        self._input = self._pending
        # Handed on prepared: the image is read, checked and resized once, not three times.
        self.browser.image = self._input
        self.cam.image = self._input
        self._refresh()

    @observe("layer")
    def _on_layer(self, change: dict[str, Any]) -> None:
        if change["new"] in self._conv_layers:
            self.cam.layer = change["new"]
        self._refresh()

    @observe("channel", "class_index", "method", "ranking")
    def _on_view(self, change: dict[str, Any]) -> None:
        if change["name"] == "ranking":
            self.ranking_picker.value = change["new"]
        # One weights check for the grid's update and the card's (the link would update the
        # grid after this, outside the pin).
        with self.probe.weights.pinned():
            if change["name"] == "channel" and self.browser.channel != self.channel:
                self.browser.channel = self.channel
            self._refresh()

    def _weights_changed(self) -> None:
        self._refresh()

    def _on_ranking_click(self, _bars: Any, event: dict[str, Any]) -> None:
        # The grid turns to the page of the channel, which its outline then marks.
        self.browser.show_channel(self._ranked[int(event["data"]["index"])])

    # -- the card -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        if self._quiet or self._input is None or not self.layer:
            return
        try:
            with self.probe.weights.pinned():  # one weights check for the whole card
                self._draw_card()
                self._draw_ranking()
        except ValueError as err:
            self._show_error(err)
            return
        self._set_status(self._describe())

    def _draw_card(self) -> None:
        info = self.probe.layer(self.layer)
        assert self._input is not None
        maps = self.probe.run(self._input).outputs[info.path]
        values = maps[:, :, self.channel].astype(np.float32)
        span = float(values.max() - values.min())
        scaled = (values - values.min()) / span if span > 0 else np.zeros_like(values)
        # Blended at the card's size: the image shrunk once per image, the map enlarged to it.
        backdrop = self._backdrop()
        overlay = heatmap_overlay(backdrop, upsample(scaled, backdrop.shape[:2]), "viridis", 0.6)
        self._show(self.channel_view, overlay)
        self.card_title.value = (f"<b>{html.escape(info.path)} · channel {self.channel}</b>: "
                                 f"activation {values.min():.3g} to {values.max():.3g}")
        if info.kind == "conv":
            self._show_cached(self.kernel_view, ("kernel", info.path, self.channel),
                              lambda: self._kernel_picture(info))
            self._draw_pattern(info.path)
        else:
            self._show(self.kernel_view, _blank(CARD))
            self._show(self.pattern_view, _blank(CARD))
        self._draw_examples(info.path)

    def _backdrop(self) -> np.ndarray:
        """The input image at the card's size, RGB (computed once per image)."""
        assert self._input is not None
        if self._backdrop_of is None or self._backdrop_of[0] != self._input.key:
            display = _rgb(self._input.display)
            self._backdrop_of = (self._input.key, fit_tile(display, CARD))
        return self._backdrop_of[1]

    def _draw_pattern(self, layer: str) -> None:
        """The cached pattern at once; otherwise computed in the background, then drawn (one
        pattern at a time: while one is computed, only the latest channel asked for waits)."""
        cached = next(pattern_steps(self.probe, layer, [self.channel], self._preset,
                                    cache=shared_pattern_cache()))
        if cached.finished:
            pattern = cached.finished[0]
            self._show_cached(self.pattern_view, ("pattern", layer, self.channel),
                              lambda: fit_tile(np.asarray(pattern.pixels), CARD))
            return
        self._show(self.pattern_view, _blank(CARD))
        with self._pattern_lock:
            self._pattern_wanted = (layer, self.channel)
            if self._pattern_busy:
                return
            self._pattern_busy = True
        threading.Thread(target=self._compute_patterns, daemon=True,
                         name="convviz-explorer-pattern").start()

    def _compute_patterns(self) -> None:
        done: tuple[str, int] | None = None
        while True:
            with self._pattern_lock:
                wanted = self._pattern_wanted
                if wanted is None or wanted == done:
                    self._pattern_busy = False
                    return
            layer, channel = wanted
            try:
                for update in pattern_steps(self.probe, layer, [channel], self._preset,
                                            cache=shared_pattern_cache()):
                    if update.finished and (self.layer, self.channel) == (layer, channel):
                        pixels = np.asarray(update.finished[0].pixels)
                        self._show(self.pattern_view, fit_tile(pixels, CARD))
            except Exception as err:  # shown, never raised in a thread nobody watches
                self._show_error(err)
            done = wanted

    def _draw_examples(self, layer: str) -> None:
        if self._index is None or layer not in self._index.layers:
            self._show(self.examples_view, _blank(EXAMPLE_TILE, EXAMPLE_TILE * 4))
            self.examples_note.value = html.escape(self._index_note or
                                                   f"{layer} is not in the index")
            return
        found = self._index.examples(layer, self.channel)
        if not found:
            self._show(self.examples_view, _blank(EXAMPLE_TILE, EXAMPLE_TILE * 4))
            self.examples_note.value = "no image indexed yet"
            return

        def picture() -> np.ndarray:
            tiles = np.stack([fit_tile(_rgb(e.crop), EXAMPLE_TILE) for e in found])
            return mosaic(tiles, columns=min(len(tiles), 8), gap=2, fill=(255, 255, 255))

        self._show_cached(self.examples_view,
                          ("examples", layer, self.channel, id(self._index), self._index.seen),
                          picture)
        shown = ", ".join(f"#{e.name or e.image} ({e.value:.3g})" for e in found)
        skipped = self._index.skipped
        state = ("" if self._index.complete else
                 f" (indexing stopped after {self._index.seen} images)")
        if skipped:
            state += f" ({_files(skipped)} could not be read)"
        self.examples_note.value = html.escape(f"images, by their maximum: {shown}{state}")

    def _draw_ranking(self) -> None:
        if self.layer not in self._conv_layers:
            self.contribution_line.value = ("contribution: pool layers are not explained; "
                                            "choose a conv layer")
            self._show(self.weighted_view, _blank(CARD))
            return
        assert self._input is not None
        target = self.cam.target(self.class_index)
        found = channel_contributions(self.cam.explainer.layer_gradients, self._input,
                                      self.layer, target)
        order = found.order(self.ranking)
        self._ranked = [int(c) for c in order[:RANKED]]
        if self.channel not in self._ranked:
            self._ranked[-1] = self.channel
        values = found.values(self.ranking)
        bars = (tuple(self._ranked), values[self._ranked].tobytes())
        with self.ranking_bars.hold_sync():
            if bars != self._bars_shown:  # a new channel alone only moves the highlight
                self._bars_shown = bars
                self.ranking_bars.x = [str(c) for c in self._ranked]
                self.ranking_bars.y = values[self._ranked].astype(np.float64)
            self.ranking_bars.color = [1.0 if c == self.channel else 0.0 for c in self._ranked]
        what = ("gradient × activation" if self.ranking == "contribution"
                else "Grad-CAM weight")
        # Short enough for the chart at any width (the layer is named on the card).
        name = (self.class_names[self.class_index] if self.class_names is not None
                and 0 <= self.class_index < len(self.class_names) else f"class {self.class_index}")
        self.ranking_chart.title = f"{what}, for {name}"
        channel = self.channel
        self.contribution_line.value = html.escape(
            f"for {self._class_label()}: Grad-CAM weight α = {found.weights[channel]:.3g}, "
            f"contribution Σ gradient × activation = {found.contributions[channel]:.3g}, "
            f"rank {found.rank(channel, self.ranking)} of {found.channels} by {self.ranking}")
        weighted = found.weighted_map(channel)
        bound = float(np.abs(weighted).max())
        symmetric = 0.5 + weighted / (2 * bound) if bound > 0 else np.full_like(weighted, 0.5)
        self._show(self.weighted_view,
                   fit_tile(apply_colormap(upsample_nearest(symmetric, CARD), "RdBu_r"), CARD))

    def _class_label(self) -> str:
        index = self.class_index
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return f"class {index} ({self.class_names[index]})"
        return f"class {index}"

    def _describe(self) -> str:
        parts = [f"{self.layer} · channel {self.channel}", self._class_label()]
        if self._index is not None and not self._index.complete:
            parts.append(f"indexing {self._index.seen} images")
        return " · ".join(parts)

    @staticmethod
    def _show(view: PictureFigure, rgb: np.ndarray) -> None:
        Explorer._send_png(view, encode_png(rgb), rgb.shape[1], rgb.shape[0])

    @staticmethod
    def _send_png(view: PictureFigure, png: bytes, width: int, height: int) -> None:
        if png != view.png:  # an unchanged picture is not sent again
            view.show(png, width, height)

    def _show_cached(self, view: PictureFigure, key: tuple, make: Callable[[], np.ndarray]
                     ) -> None:
        """Show a picture that depends only on ``key`` and the weights, encoded once."""
        full = (self.probe.weights.check(), *key)
        if full not in self._pictures:
            rgb = make()
            if len(self._pictures) >= 256:
                self._pictures.pop(next(iter(self._pictures)))
            self._pictures[full] = (encode_png(rgb), rgb.shape[1], rgb.shape[0])
        self._send_png(view, *self._pictures[full])

    def _kernel_picture(self, info: Any) -> np.ndarray:
        kernel = kernel_pictures(info, [self.channel])[0]
        return enlarge(kernel, max(1, CARD // max(kernel.shape[:2])))

    # -- the index ----------------------------------------------------------------------------
    def _build_index(self, dataset: Any, folder: Any, k: int, cancel: threading.Event) -> None:
        self.index_box.layout.display = None
        self._index_note = "indexing the data set…"

        def progress(seen: int, total: int | None) -> None:
            of = f" of {total}" if total else ""
            self.progress.max = max(total or seen, 1)
            self.progress.value = seen
            self._index_note = f"indexing: {seen}{of} images"
            self._set_status(f"indexing the data set: {seen}{of} images · {self._describe()}")

        try:
            index = build_index(self.probe.model, dataset, self._conv_layers, k=k,
                                preprocess=self.probe.preprocess, progress=progress,
                                cancel=cancel, folder=folder)
        except Exception as err:  # shown, never raised in a thread nobody watches
            self._index_note = f"no index: {one_sentence(err)}"
            self._refresh()
            self._show_error(err)
            return
        finally:
            self.index_box.layout.display = "none"
        self._index, self._index_note = index, ""
        self._refresh()
        if index.skipped:  # said once, in the status line; the card's note keeps saying it
            self._set_status(f"Skipped {_files(index.skipped)} that could not be read; "
                             f"{index.seen} images indexed · {self._describe()}")

    @property
    def index(self) -> ExampleIndex | None:
        """The dataset-examples index (None until one is built or given)."""
        return self._index

    def _current_rgb(self) -> np.ndarray:
        return self.cam.snapshot()

    def _save_name(self) -> str:
        return f"explorer-{self.layer.replace('/', '_')}-{self.channel}.png"


def upsample_nearest(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` enlarged by pixel repetition to about ``size`` on the longer side."""
    return enlarge(values, max(1, size // max(values.shape[:2])))


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def _blank(height: int, width: int | None = None) -> np.ndarray:
    return np.full((height, width or height, 3), PENDING, np.uint8)


def _rgb(picture: np.ndarray) -> np.ndarray:
    return np.repeat(picture, 3, axis=2) if picture.shape[2] == 1 else picture


__all__ = ["Explorer"]
