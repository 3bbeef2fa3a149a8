"""FilterGallery: what each filter of a conv layer looks for, as raw kernels or as patterns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets
from PIL import Image
from traitlets import Bool, Enum, Int, Unicode, observe, validate

from ..engine.featvis import (
    PRESETS,
    FilterPattern,
    PatternCache,
    pattern_steps,
    preset,
    shared_pattern_cache,
    visualizer_for,
)
from ..engine.featvis.optimize import to_display
from ..engine.kernels import kernel_tiles
from ..engine.layers import LayerInfo
from ..engine.render import (
    SEPARATOR_COLOR,
    apply_colormap,
    encode_png,
    enlarge,
    mosaic,
    tile_boxes,
)
from ..engine.timeline import Timeline
from .base import (
    ConvvizWidget,
    InvalidValue,
    PictureFigure,
    column,
    probe_for,
    wrapping_row,
)
from .epochs import EpochControls, with_timeline
from .keys import Key, KeyboardControl, cycle, step
from .paging import Paged
from .theme import check_theme, current_theme

MODES = ("patterns", "weights", "weights by epoch")
#: Grey of a tile whose pattern has not been computed yet.
PENDING_GREY = 200
#: Seconds between two redraws of the streamed preview (each redraw sends one PNG).
PREVIEW_INTERVAL = 0.15


def fit_tile(picture: np.ndarray, tile: int) -> np.ndarray:
    """A uint8 RGB picture resized to ``tile`` × ``tile`` (nearest when enlarging)."""
    if picture.shape[:2] == (tile, tile):
        return picture
    smaller = picture.shape[0] > tile
    resample = Image.Resampling.BILINEAR if smaller else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(picture).resize((tile, tile), resample))


def kernel_pictures(layer: LayerInfo, filters: list[int], kernel: np.ndarray | None = None
                    ) -> np.ndarray:
    """One uint8 RGB picture ``(F, kh, kw, 3)`` per filter: colour for a first RGB layer, else
    the L2 norm over input channels in gray; scaled over the whole layer (seed S3). ``kernel``
    shows other values than the layer's current ones (an epoch of a timeline)."""
    tiles = kernel_tiles(layer, filters, kernel=kernel)
    values = tiles.values[:, 0] if tiles.mode == "channels" else tiles.values
    if tiles.mode == "rgb":
        return (values * 255.0 + 0.5).astype(np.uint8)
    return apply_colormap(values, "gray")


class FilterGallery(EpochControls, Paged, ConvvizWidget):
    """The filters of a Keras conv layer: raw kernel weights, or the input patterns that
    maximize each filter (activation maximization), computed batched and streamed live.

    Patterns are computed for a page of filters at once when **Run** is pressed, in a
    background thread: the grid fills in step by step, a progress bar advances, **Cancel**
    stops within one step, and the other controls keep answering. Finished patterns are cached
    (keyed by the model's weights, the layer, the filter and the settings), so paging back or
    reopening the gallery shows them at once; see :func:`convviz_widgets.engine.featvis.precompute`
    for galleries prepared ahead of a lecture.

    Parameters
    ----------
    model : keras.Model or ActivationProbe
        A Keras 3 model (Sequential, functional or nested) or a probe shared with other widgets.
    layer : str, optional
        Conv layer to show (path or name); defaults to the last conv layer.
    mode : {"patterns", "weights"}
        Optimized input patterns, or the raw kernel weights.
    preprocess : callable, optional
        The model's preprocessing, e.g. ``keras.applications.vgg16.preprocess_input``.
    preset : {"tutorial", "clean"}
        ``"tutorial"``: seed S2's gradient ascent (gray noise, 40 steps); ``"clean"``: FFT
        parameterization with decorrelated colour, transforms and regularizers.
    page_size : int
        Filters per page (default 16).
    columns : int, optional
        Tiles per row (default 8; 4 in the projector theme).
    tile : int, optional
        Size of a tile in pixels (default 80; 112 in the projector theme).
    cache : PatternCache, optional
        Where patterns are kept (default: the engine's shared in-memory cache); give
        ``PatternCache(folder)`` to use patterns precomputed on disk. The gallery keeps none of
        its own: what it shows comes from this cache, bounded by its byte budget.
    input_shape : (height, width, channels), optional
        For subclassed models whose input size Keras cannot tell.
    timeline : Timeline, optional
        A recorded training of ``model`` (or pass the timeline as ``model``): an ``epoch``
        slider and the training curves appear; patterns are cached per epoch's weights, and
        mode ``"weights by epoch"`` shows the page's kernels at every recorded epoch at once.
    theme : {"default", "projector"}, optional
        The look (default: :func:`~convviz_widgets.set_theme`'s choice); ``"projector"`` has
        text of at least 18 pixels and 4 columns of 112-pixel tiles by default.

    Examples
    --------
    >>> from convviz_widgets import FilterGallery, zoo
    >>> gallery = FilterGallery(zoo.load_model("shapes"), layer="block1_conv1", mode="weights")
    >>> gallery.snapshot().shape[-1]
    3
    >>> gallery.mode = "patterns"
    >>> gallery.run(wait=True)  # optimizes the page's 16 patterns (CONVVIZ_MAX_STEPS caps it)
    >>> gallery.pattern(0).image.shape
    (64, 64, 3)
    """

    layer = Unicode(help="Path of the conv layer shown, e.g. 'block3_conv1'.")
    filter = Int(0, help="Filter shown enlarged in the focus view.")
    mode = Enum(MODES, default_value="patterns",
                help="'patterns', 'weights', or 'weights by epoch' (with a timeline: one row of "
                     "the page's kernels per recorded epoch).")
    preset = Enum(tuple(PRESETS), default_value="tutorial",
                  help="Optimization settings: " + ", ".join(PRESETS) + ".")
    page_size = Int(16, help="Filters per page.")
    running = Bool(False, read_only=True, help="Whether patterns are being computed.")

    def __init__(
        self,
        model: Any,
        layer: str | None = None,
        mode: str = "patterns",
        preprocess: Callable[[np.ndarray], Any] | None = None,
        *,
        preset: str = "tutorial",
        page_size: int = 16,
        columns: int | None = None,
        tile: int | None = None,
        cache: PatternCache | None = None,
        input_shape: tuple[int | None, ...] | None = None,
        timeline: Timeline | None = None,
        theme: str | None = None,
    ) -> None:
        theme = check_theme(theme if theme is not None else current_theme())
        projector = theme == "projector"
        columns = columns if columns is not None else (4 if projector else 8)
        tile = tile if tile is not None else (112 if projector else 80)
        model, timeline = with_timeline(model, timeline)
        self.probe = probe_for(model, preprocess, input_shape)
        self._convs: list[LayerInfo] = [
            info for info in self.probe.spatial_layers
            if info.kind == "conv" and info.class_name == "Conv2D"]
        if not self._convs:
            raise ValueError("the model has no Conv2D layer whose filters could be shown.")
        if isinstance(tile, bool) or not isinstance(tile, int) or not 1 <= tile <= 512:
            raise InvalidValue(f"tile is a tile's side in pixels, from 1 to 512, not {tile!r}.")
        self.tile = int(tile)
        self.cache = cache if cache is not None else shared_pattern_cache()
        # Held so that its compiled steps live as long as the gallery (it is shared per model).
        self._visualizer = visualizer_for(self.probe)
        self._preview: dict[int, np.ndarray] = {}
        self._picture: np.ndarray | None = None
        self._lock = threading.RLock()
        super().__init__()
        self._setup_epochs(timeline)
        self._build_controls()
        self.children = self._layout()
        self.add_class("convviz-filter-gallery")
        with self._batch():
            self.theme = theme
            self._start_epochs()
            self.page_size, self.columns = page_size, columns
            self.mode, self.preset = mode, preset
            self.layer = layer if layer is not None else self._convs[-1].path
            self._link_controls()
        self._select()

    # -- controls -----------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.layer_picker = widgets.Dropdown(
            options=[(info.describe(), info.path) for info in self._convs], description="layer",
            layout=widgets.Layout(width="360px"))
        self.page_slider = widgets.IntSlider(0, 0, 0, description="page")
        self.page_slider.add_class("convviz-gallery-page-slider")
        self.mode_picker = widgets.ToggleButtons(options=list(
            MODES if self.timeline is not None else MODES[:2]),
                                                 style={"button_width": "90px"})
        self.preset_picker = widgets.Dropdown(options=list(PRESETS), description="preset",
                                              layout=widgets.Layout(width="200px"))
        self.run_button = widgets.Button(description="Run", icon="play",
                                         tooltip="optimize the patterns of this page")
        self.run_button.add_class("convviz-gallery-run")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.cancel_button.add_class("convviz-gallery-cancel")
        self.progress = widgets.IntProgress(0, 0, 1, layout=widgets.Layout(width="200px"))
        self.progress.add_class("convviz-gallery-progress")
        self.grid = PictureFigure("convviz-gallery-grid", on_click=self._on_grid_click)
        self.keyboard = KeyboardControl([self.grid.figure], self._key_bindings(),
                                        self._set_status)
        self.focus_pattern = PictureFigure("convviz-gallery-focus")
        self.focus_kernel = PictureFigure("convviz-gallery-kernel")
        steps, value = bqplot.LinearScale(), bqplot.LinearScale()
        self.curve = bqplot.Lines(x=[0.0], y=[0.0], scales={"x": steps, "y": value},
                                  colors=["#4c72b0"])
        self.curve_chart = bqplot.Figure(display_toolbar=False,
            marks=[self.curve], title="objective per step",
            axes=[bqplot.Axis(scale=steps, label="step", num_ticks=5),
                  bqplot.Axis(scale=value, side="left", num_ticks=5, tick_format=".3~g")],
            fig_margin={"top": 30, "bottom": 40, "left": 50, "right": 10},
            title_style={"font-size": "12px"},
            layout=widgets.Layout(width="300px", height="200px", max_width="100%"))
        self.curve_chart.add_class("convviz-gallery-curve")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())

    def _key_bindings(self) -> list[Key]:
        layers = [info.path for info in self._convs]
        return [
            Key(("ArrowLeft", "ArrowRight"), "layer",
                lambda by: setattr(self, "layer", step(layers, self.layer, by))),
            Key(("ArrowUp", "ArrowDown"), "page",
                lambda by: setattr(self, "page", self.page + by)),
            Key((",", "."), "filter",
                lambda by: setattr(self, "filter", step(self.page_filters(), self.filter, by))),
            Key(("Enter", "r"), "Run", lambda _: self.run()),
            Key(("Escape",), "Cancel", lambda _: self.cancel()),
            Key(("w",), "patterns / weights", lambda _: setattr(
                self, "mode", cycle(self.mode_picker.options, self.mode))),
            *self._epoch_keys(),
        ]

    def _link_controls(self) -> None:
        for name, control in [("layer", self.layer_picker), ("page", self.page_slider),
                              ("mode", self.mode_picker), ("preset", self.preset_picker)]:
            traitlets.link((self, name), (control, "value"))

    def _layout(self) -> list[widgets.Widget]:
        focus = column([wrapping_row([self.focus_pattern.figure, self.focus_kernel.figure]),
                        self.curve_chart])
        focus.layout.margin = "0 0 0 12px"
        return [
            *([self.epoch_box] if self.epoch_box is not None else []),
            wrapping_row([self.layer_picker, self.mode_picker]),
            wrapping_row([self.page_slider, self.preset_picker]),
            wrapping_row([self.run_button, self.cancel_button, self.progress]),
            wrapping_row([self.grid.figure, focus]),
            self._footer(),
        ]

    # -- validation ---------------------------------------------------------------------------
    @validate("layer")
    def _validate_layer(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            info = self.probe.layer(proposal["value"])
            if info.path not in {conv.path for conv in self._convs}:
                raise ValueError(
                    f"layer {info.path!r} ({info.class_name}) has no conv filters to show; "
                    f"choose a Conv2D layer such as {self._convs[-1].path!r}.")
        return info.path

    @validate("filter")
    def _validate_filter(self, proposal: dict[str, Any]) -> int:
        if not self.layer:
            return 0
        return int(np.clip(proposal["value"], 0, self._filters_in_layer() - 1))

    # -- reactions ----------------------------------------------------------------------------
    @observe("layer", "page", "page_size", "preset")
    def _on_selection(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.cancel()
            self._select()

    def _select(self) -> None:
        """Show the current layer, page and preset: cached patterns at once, the rest grey."""
        with self._batch():
            self._fit_page()
            self.filter = self.filter
        self._preview.clear()
        self._refresh()

    @observe("mode", "columns", "filter")
    def _on_view(self, change: dict[str, Any]) -> None:
        self._refresh()

    @validate("mode")
    def _validate_mode(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            if proposal["value"] == "weights by epoch" and self.timeline is None:
                raise ValueError("'weights by epoch' needs a recorded training: give the gallery "
                                 "a timeline, FilterGallery(Timeline(folder), ...).")
        return str(proposal["value"])

    def _weights_changed(self) -> None:
        self._select()

    def _grid_columns(self) -> int:
        """Tiles per row of the grid shown: one row per epoch in ``"weights by epoch"``."""
        if self.mode == "weights by epoch":
            return max(1, len(self.page_filters()))
        return self.columns

    def _on_grid_click(self, x: float, y: float) -> None:
        step, columns = self.tile + 1, self._grid_columns()
        column, row = int(x // step), int(y // step)
        if column >= columns or x % step >= self.tile or y % step >= self.tile:
            return
        index = column if self.mode == "weights by epoch" else row * columns + column
        filters = self.page_filters()
        if 0 <= index < len(filters):
            self.filter = int(filters[index])

    # -- computing ----------------------------------------------------------------------------
    def _items_in_layer(self) -> int:
        return self._filters_in_layer()

    def page_filters(self) -> list[int]:
        """Filter indices on the current page."""
        return list(self.page_range())

    def pattern(self, index: int) -> FilterPattern | None:
        """The finished pattern of filter ``index`` of the current layer, if computed (for the
        weights the model has now)."""
        settings = preset(self.preset)
        key = PatternCache.key(self.probe.model, self.layer, int(index), settings,
                               self.probe.preprocess)
        return self.cache.get(key, self.layer, int(index),
                              self._visualizer.image_shape(settings))

    def run(self, wait: bool = False) -> None:
        """Optimize the patterns of the current page that are not cached yet.

        Runs in a background thread (the notebook stays responsive) unless ``wait`` is True;
        a run already in progress is left alone, but a run pressed while a cancelled one is
        still ending starts right after it.
        """
        if not self._may_start():
            return
        with self.probe.weights.pinned():
            missing = [f for f in self.page_filters() if self.pattern(f) is None]
        if not missing:
            self._set_status(f"{self._describe()} · every pattern on this page is ready.")
            return
        self.set_trait("running", True)
        self.run_button.disabled, self.cancel_button.disabled = True, False
        settings = preset(self.preset)
        self.progress.max, self.progress.value = max(1, settings.effective_steps), 0
        self._start(self._optimize, self.layer, self.preset, missing, wait=wait)

    def _optimize(self, layer: str, preset_name: str, filters: list[int],
                  cancel: threading.Event) -> None:
        settings = preset(preset_name)
        started = time.perf_counter()
        last_draw = 0.0
        try:
            for update in pattern_steps(self.probe, layer, filters, settings, cache=self.cache,
                                        cancel=cancel.is_set):
                with self._lock:
                    for pattern in update.finished:  # pattern_steps stored them in the cache
                        self._preview.pop(pattern.filter, None)
                    record = update.record
                    if record is not None:
                        self.progress.value = min(record.step, self.progress.max)
                    now = time.perf_counter()
                    if record is not None and not update.finished and (
                            now - last_draw >= PREVIEW_INTERVAL or record.step == 1):
                        shown = to_display(record.images, settings.display)
                        self._preview.update(zip(update.filters, shown, strict=True))
                        last_draw = now
                        self._refresh_if_current(layer, preset_name)
                    elif update.finished:
                        self._refresh_if_current(layer, preset_name)
            seconds = time.perf_counter() - started
            message = "cancelled" if cancel.is_set() else f"done in {seconds:.1f} s"
            if self.layer == layer and self.preset == preset_name:
                self._set_status(f"{self._describe()} · {message}.")
        except Exception as err:  # the widget must stay usable: report, never raise
            self._show_error(err)
        finally:
            with self._lock:
                self._preview.clear()
            self.set_trait("running", False)
            self.run_button.disabled, self.cancel_button.disabled = False, True

    def _refresh_if_current(self, layer: str, preset_name: str) -> None:
        if self.layer == layer and self.preset == preset_name:
            self._refresh(status=False)

    # -- drawing ------------------------------------------------------------------------------
    def _filters_in_layer(self) -> int:
        return int(self.probe.layer(self.layer).channels or 0)

    def _tiles(self) -> np.ndarray:
        filters = self.page_filters()
        if self.mode == "weights":
            pictures = kernel_pictures(self.probe.layer(self.layer), filters)
        elif self.mode == "weights by epoch":
            assert self.timeline is not None
            info = self.probe.layer(self.layer)
            pictures = np.concatenate([
                kernel_pictures(info, filters, self.timeline.kernel(epoch, info.layer.kernel))
                for epoch in self.timeline.epochs])
        else:
            blank = np.full((self.tile, self.tile, 3), PENDING_GREY, np.uint8)
            pictures = []
            for index in filters:
                pattern = self.pattern(index)
                pictures.append(pattern.pixels if pattern is not None
                                else self._preview.get(index, blank))
        return np.stack([fit_tile(np.asarray(p), self.tile) for p in pictures])

    def _refresh(self, status: bool = True) -> None:
        if self._quiet or not self.layer:
            return
        try:
            with self.probe.weights.pinned():
                with self._lock:
                    tiles = self._tiles()
                self._picture = mosaic(tiles, self._grid_columns(), gap=1,
                                       fill=SEPARATOR_COLOR)
                height, width = self._picture.shape[:2]
                self.grid.show(encode_png(self._picture), width, height)
                self._mark_grid(len(tiles))
                self._draw_focus()
                if status:
                    self._set_status(self._describe())
        except Exception as err:  # the widget must stay usable: report, never raise into the UI
            self._show_error(err)

    def _mark_grid(self, count: int) -> None:
        """Filter numbers on the tiles (every epoch's row, in "weights by epoch"), and the
        chosen filter's tile outlined (in the first row)."""
        filters = self.page_filters()
        columns = self._grid_columns()
        labels = [str(filters[i % len(filters)]) for i in range(count)]
        if self.mode == "patterns":  # a dead filter's pattern is noise: say so on its tile
            labels = [f"{label} dead" if (pattern := self.pattern(int(label))) is not None
                      and pattern.dead else label for label in labels]
        selected = filters.index(self.filter) if self.filter in filters else None
        self.grid.mark_tiles(tile_boxes(count, columns, (self.tile, self.tile)), labels,
                             selected)

    def _draw_focus(self) -> None:
        kernel = kernel_pictures(self.probe.layer(self.layer), [self.filter])[0]
        big = enlarge(kernel, max(1, 150 // max(kernel.shape[:2])))
        self.focus_kernel.show(encode_png(big), big.shape[1], big.shape[0])
        pattern = self.pattern(self.filter)
        if pattern is None:
            picture = self._preview.get(self.filter,
                                        np.full((150, 150, 3), PENDING_GREY, np.uint8))
        else:
            picture = pattern.pixels
        picture = fit_tile(np.asarray(picture), 150)
        self.focus_pattern.show(encode_png(picture), 150, 150)
        history = pattern.history if pattern is not None else np.zeros(0)
        with self.curve.hold_sync(), self.curve_chart.hold_sync():
            self.curve.x = np.arange(1, len(history) + 1, dtype=np.float64) if len(history) \
                else np.zeros(1)
            self.curve.y = history.astype(np.float64) if len(history) else np.zeros(1)
            dead = " (dead: stays 0)" if pattern is not None and pattern.dead else ""
            self.curve_chart.title = f"filter {self.filter}: objective per step{dead}"

    def _describe(self) -> str:
        info = self.probe.layer(self.layer)
        filters = self.page_filters()
        parts = [f"{info.path} {info.describe().split(' ', 1)[-1]}",
                 f"filters {filters[0]}–{filters[-1]} of {self._filters_in_layer()}",
                 f"page {self.page + 1}/{self.page_count}"]
        if self.mode == "patterns":
            done = [self.pattern(f) for f in filters]
            ready = sum(p is not None for p in done)
            dead = sum(p is not None and p.dead for p in done)
            parts.append(f"{ready}/{len(filters)} patterns ready"
                         + (f", {dead} dead" if dead else "")
                         + ("" if ready == len(filters) else
                            " (computing…)" if self.running else " (press Run)"))
            bad = self.cache.bad_entries
            if bad:
                parts.append(f"{bad} unreadable cache file{'s' if bad > 1 else ''} skipped "
                             "(computed again on Run)")
            if self.cache.write_error:
                parts.append(self.cache.write_error)
        return " · ".join(parts)

    def _save_name(self) -> str:
        mode = self.mode.replace(" ", "_")
        return f"{self.layer.replace('/', '_')}_{mode}_page{self.page + 1}.png"

    def _current_rgb(self) -> np.ndarray:
        if self._picture is None:
            raise ValueError("nothing is displayed yet.")
        return self._picture

    def __repr__(self) -> str:
        return f"FilterGallery(layer={self.layer!r}, page={self.page}, mode={self.mode!r})"

