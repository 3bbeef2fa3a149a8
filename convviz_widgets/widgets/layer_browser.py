"""LayerBrowser: every channel of a layer's feature maps for an image, re-rendered live."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets
from traitlets import Enum, Int, Unicode, observe, validate

from ..engine.compare import DIFFERENCE_CMAP, difference, joint_stats
from ..engine.images import ImageInput
from ..engine.layers import LayerInfo
from ..engine.probe import ActivationRecord
from ..engine.render import (
    COLORMAPS,
    NORMALIZATIONS,
    ORDERS,
    ChannelGrid,
    colormap_lut,
    order_channels,
    render_channel_grid,
    scaling,
)
from ..engine.timeline import Timeline
from ..html_export import Axis, frame_key, write_player
from .base import (
    ColourBar,
    ConvvizWidget,
    PictureFigure,
    colorscale_colors,
    column,
    probe_for,
    wrapping_row,
)
from .compare import Comparison
from .controls import ImageChooser, TakesImage, colormap_options
from .epochs import EpochControls, with_timeline
from .keys import Key, KeyboardControl, cycle, step
from .paging import Paged
from .theme import check_theme, current_theme


class LayerBrowser(EpochControls, Paged, TakesImage, ConvvizWidget):
    """Browse the feature maps of every conv and pool layer of a Keras model, live.

    One forward pass per image serves every layer (see
    :class:`~convviz_widgets.engine.ActivationProbe`); moving the layer, page, colormap,
    normalization or order controls only re-renders pixels. The traits are the API: setting
    ``browser.layer = "block3_conv1"`` in a cell and moving the slider do the same.

    Parameters
    ----------
    model : keras.Model or ActivationProbe
        A Sequential, functional or nested Keras 3 model, or a probe shared with other widgets.
    image : array, PIL image, path, bytes or str, optional
        The input image, or the name of a bundled sample (see ``zoo.image_names()``);
        defaults to the bundled cat photo.
    layer : str, optional
        Path or name of the layer to show first; defaults to the first conv layer.
    preprocess : callable, optional
        The model's preprocessing, e.g. ``keras.applications.vgg16.preprocess_input``.
    class_names : sequence of str, optional
        Names of the model's outputs, to show the prediction in the status line.
    page_size : int, optional
        Channels per page (default 64; 16 in the projector theme).
    columns : int, optional
        Tiles per row (default 8; 4 in the projector theme).
    grid_width : int
        Approximate width of the channel grid in pixels (default 640).
    input_shape : (height, width, channels), optional
        For subclassed models whose input size Keras cannot tell.
    timeline : Timeline, optional
        A recorded training of ``model`` (or pass the timeline as ``model``): an ``epoch``
        slider and the training curves appear, and the grid follows the epoch.
    compare : keras.Model, ActivationProbe or int, optional
        Another model of the same architecture (before fine-tuning, say), or, with a timeline,
        an epoch: its grid is drawn beside this one with the same scaling, and the difference
        (this − other) below, on a diverging colormap symmetric over the layer.
    theme : {"default", "projector"}, optional
        The look (default: :func:`~convviz_widgets.set_theme`'s choice); ``"projector"`` has
        text of at least 18 pixels and 4 columns of 16 channels by default.

    Examples
    --------
    >>> from convviz_widgets import LayerBrowser, zoo
    >>> browser = LayerBrowser(zoo.load_model("shapes"), image="star")
    >>> browser.layer = "block2_conv1"
    >>> browser.snapshot().shape[-1]
    3
    """

    layer = Unicode(help="Path of the layer shown, e.g. 'block1_conv1' or 'vgg16/block5_conv1'.")
    channel = Int(0, help="Channel shown enlarged in the focus view.")
    cmap = Unicode("viridis", help="Matplotlib colormap of the grid and focus view.")
    norm = Enum(NORMALIZATIONS, default_value="channel",
                help="'channel', 'layer' or 'symmetric' (diverging) normalization.")
    order = Enum(ORDERS, default_value="index",
                 help="Channel order: by 'index', or by descending 'mean' or 'max' activation.")
    page_size = Int(64, help="Channels per page.")

    def __init__(
        self,
        model: Any,
        image: Any = None,
        layer: str | None = None,
        preprocess: Callable[[np.ndarray], Any] | None = None,
        *,
        class_names: Sequence[str] | None = None,
        page_size: int | None = None,
        columns: int | None = None,
        grid_width: int = 640,
        cmap: str = "viridis",
        norm: str = "channel",
        order: str = "index",
        input_shape: tuple[int | None, ...] | None = None,
        timeline: Timeline | None = None,
        compare: Any = None,
        theme: str | None = None,
    ) -> None:
        theme = check_theme(theme if theme is not None else current_theme())
        projector = theme == "projector"
        page_size = page_size if page_size is not None else (16 if projector else 64)
        columns = columns if columns is not None else (4 if projector else 8)
        model, timeline = with_timeline(model, timeline)
        self.probe = probe_for(model, preprocess, input_shape)
        self.comparison = Comparison.of(self.probe, compare, timeline, preprocess, input_shape)
        self._spatial: list[LayerInfo] = self.probe.spatial_layers
        if not self._spatial:
            raise ValueError("the model has no layer with feature maps (H, W, C) to browse.")
        self.class_names = list(class_names) if class_names is not None else None
        if int(grid_width) < 32:
            raise ValueError(f"grid_width must be at least 32 pixels, got {grid_width}.")
        self.grid_width = int(grid_width)
        self._input: ImageInput | None = None
        self._pending: ImageInput | None = None
        self._info: LayerInfo = self._spatial[0]
        self._grid: ChannelGrid | None = None
        self._other_grid: ChannelGrid | None = None
        self._difference_grid: ChannelGrid | None = None
        super().__init__()
        self._setup_epochs(timeline)
        self._build_controls()
        self.children = self._layout()
        self.add_class("convviz-layer-browser")
        with self._batch():
            self.theme = theme
            self.page_size, self.columns = page_size, columns
            self.cmap, self.norm, self.order = cmap, norm, order
            self.layer = layer if layer is not None else self._default_layer()
            self.image = image if image is not None else "cat"
            self._link_controls()
            self._start_epochs()
        self._refresh()

    # -- controls -----------------------------------------------------------------------------
    def _build_controls(self) -> None:
        layer_options = [(info.describe(), info.path) for info in self._spatial]
        self.images = ImageChooser(self)
        self.layer_slider = widgets.IntSlider(0, 0, len(self._spatial) - 1, description="layer",
                                              continuous_update=True)
        self.layer_slider.add_class("convviz-layer-slider")
        self.layer_picker = widgets.Dropdown(options=layer_options,
                                             layout=widgets.Layout(width="340px"))
        self.page_slider = widgets.IntSlider(0, 0, 0, description="page")
        self.page_slider.add_class("convviz-page-slider")
        self.cmap_picker = widgets.Dropdown(options=list(COLORMAPS), description="colormap",
                                            layout=widgets.Layout(width="200px"))
        self.norm_picker = widgets.ToggleButtons(options=list(NORMALIZATIONS),
                                                 description="normalize",
                                                 style={"button_width": "90px",
                                                        "description_width": "initial"})
        self.order_picker = widgets.Dropdown(options=list(ORDERS), description="order",
                                             layout=widgets.Layout(width="180px"))
        self.channel_slider = widgets.IntSlider(0, 0, 0, description="channel")
        self.channel_slider.add_class("convviz-channel-slider")
        self.grid = PictureFigure("convviz-grid", on_click=self._on_grid_click)
        if self.comparison is not None:
            self.other_grid = PictureFigure("convviz-grid-other", on_click=self._on_grid_click)
            self.difference_grid = PictureFigure("convviz-grid-difference",
                                                 on_click=self._on_grid_click)
        self._build_focus()
        self.keyboard = KeyboardControl([self.grid.figure], self._key_bindings(),
                                        self._set_status)

    def _key_bindings(self) -> list[Key]:
        layers = [info.path for info in self._spatial]
        return [
            Key(("ArrowLeft", "ArrowRight"), "layer",
                lambda by: setattr(self, "layer", step(layers, self.layer, by))),
            Key(("ArrowUp", "ArrowDown"), "page",
                lambda by: setattr(self, "page", self.page + by)),
            Key((",", "."), "channel", lambda by: setattr(
                self, "channel", step(self.page_channels().tolist(), self.channel, by))),
            Key(("c",), "next colormap",
                lambda _: setattr(self, "cmap", cycle(COLORMAPS, self.cmap))),
            Key(("n",), "next normalization",
                lambda _: setattr(self, "norm", cycle(NORMALIZATIONS, self.norm))),
            *self._epoch_keys(),
        ]

    def _link_controls(self) -> None:
        for name, control in [("layer", self.layer_picker), ("page", self.page_slider),
                              ("channel", self.channel_slider), ("norm", self.norm_picker),
                              ("order", self.order_picker)]:
            traitlets.link((self, name), (control, "value"))
        self.cmap_picker.value = self.cmap
        self.layer_slider.observe(self._on_layer_slider, "value")
        self.cmap_picker.observe(self._on_cmap_picker, "value")

    def _build_focus(self) -> None:
        self._focus_color = bqplot.ColorScale(colors=colorscale_colors(self.cmap))
        x_scale, y_scale = bqplot.LinearScale(), bqplot.LinearScale(reverse=True)
        self.focus_map = bqplot.HeatMap(
            x=np.arange(2.0), y=np.arange(2.0), color=np.zeros((2, 2)),
            scales={"x": x_scale, "y": y_scale, "color": self._focus_color},
        )
        self.focus = bqplot.Figure(display_toolbar=False,
            marks=[self.focus_map], axes=[], padding_x=0.0, padding_y=0.0,
            fig_margin={"top": 30, "bottom": 10, "left": 10, "right": 10},
            title_style={"font-size": "12px"},
            layout=widgets.Layout(width="250px", height="300px", max_width="100%", margin="0"),
        )
        self.focus.add_class("convviz-focus")
        # A bar of its own beside the map (a ColorAxis inside the figure has no room for a
        # label that does not cross the map), on the map's scale: the channel's own range.
        self.focus_bar = ColourBar(self.cmap, "activation", None, None, height=300,
                                   scale=self._focus_color)
        self.focus_bar.figure.add_class("convviz-focus-bar")
        self.focus_caption = widgets.HTML(layout=widgets.Layout(max_width="380px"))
        self.focus_caption.add_class("convviz-focus-caption")

    def _layout(self) -> list[widgets.Widget]:
        return [
            self.images.box,
            *([self.epoch_box] if self.epoch_box is not None else []),
            wrapping_row([self.layer_slider, self.layer_picker]),
            wrapping_row([self.page_slider, self.cmap_picker, self.order_picker]),
            self.norm_picker,
            self._grids_box(),
            self._footer(),
        ]

    def _grids_box(self) -> widgets.Widget:
        focus = column([self.channel_slider, wrapping_row([self.focus, self.focus_bar.figure]),
                        self.focus_caption])
        if self.comparison is None:
            return wrapping_row([self.grid.figure, focus])

        def titled(title: str, figure: PictureFigure) -> widgets.VBox:
            return column([widgets.HTML(f"<b>{html.escape(title)}</b>"), figure.figure])

        self.this_title = widgets.HTML()
        return column([
            wrapping_row([column([self.this_title, self.grid.figure]),
                          titled(self.comparison.label, self.other_grid)]),
            wrapping_row([titled(f"difference: this − {self.comparison.label} "
                                 f"({DIFFERENCE_CMAP}, 0 in the middle)", self.difference_grid),
                          focus]),
        ])

    # -- validation ---------------------------------------------------------------------------
    @validate("layer")
    def _validate_layer(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            info = self.probe.layer(proposal["value"])
            if info not in self._spatial:
                what = ("is an input preprocessing layer (its output is still the image)"
                        if info.kind == "preprocessing" and info.is_spatial else
                        f"outputs shape {info.output_shape}, not feature maps")
                raise ValueError(
                    f"layer {info.path!r} ({info.class_name}) {what}; choose a conv or pool "
                    f"layer such as {self._spatial[-1].path!r}."
                )
        return info.path

    @validate("cmap")
    def _validate_cmap(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            colormap_lut(proposal["value"])
        return str(proposal["value"])

    @validate("channel")
    def _validate_channel(self, proposal: dict[str, Any]) -> int:
        if not self.layer:
            return 0
        return int(np.clip(proposal["value"], 0, max(0, (self._info.channels or 1) - 1)))

    # -- reactions ----------------------------------------------------------------------------
    @observe("layer")
    def _on_layer(self, change: dict[str, Any]) -> None:
        # The one place the layer is resolved: every render of this layer uses _info.
        self._info = next(info for info in self._spatial if info.path == change["new"])
        with self._batch():
            self.layer_slider.value = self._spatial.index(self._info)
            self._fit_page()
            self.channel_slider.max = max(0, (self._info.channels or 1) - 1)
            self.channel = self.channel
        self._refresh()

    @observe("page", "cmap", "norm", "order", "page_size", "columns")
    def _on_view_change(self, change: dict[str, Any]) -> None:
        if change["name"] == "cmap":
            self.cmap_picker.options = colormap_options(COLORMAPS, change["new"])
            self.cmap_picker.value = change["new"]
        if change["name"] == "page_size":
            self._fit_page()
        self._refresh(focus=change["name"] == "cmap")

    @observe("channel")
    def _on_channel(self, change: dict[str, Any]) -> None:
        self._refresh(grid=False)

    @observe("image")
    def _on_image(self, change: dict[str, Any]) -> None:
        if self._pending is not None:
            self._input, self._pending = self._pending, None
        self._refresh()

    def _weights_changed(self) -> None:
        self._refresh()

    def _on_layer_slider(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.layer = self._spatial[change["new"]].path

    def _on_cmap_picker(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.cmap = change["new"]

    def _on_grid_click(self, x: float, y: float) -> None:
        if self._grid is not None:
            picked = self._grid.channel_at(x, y)
            if picked is not None:
                self.channel = picked

    # -- rendering ----------------------------------------------------------------------------
    def _items_in_layer(self) -> int:
        return int(self._info.channels or 0)

    def page_channels(self) -> np.ndarray:
        """Channel indices on the current page, in the current order."""
        assert self._input is not None
        return self._page_channels(self.probe.run(self._input))

    def show_channel(self, channel: int) -> None:
        """Select ``channel`` and turn to the page that shows it (in the current order)."""
        assert self._input is not None
        stats = self.probe.run(self._input).channel_stats(self._info.path)
        where = np.flatnonzero(order_channels(stats, self.order) == int(channel))
        with self.hold_trait_notifications():
            if where.size:
                self.page = int(where[0]) // self.page_size
            self.channel = int(channel)

    def _page_channels(self, record: ActivationRecord) -> np.ndarray:
        positions = self.page_range()
        stats = record.channel_stats(self._info.path)
        return order_channels(stats, self.order)[positions.start : positions.stop]

    def _refresh(self, grid: bool = True, focus: bool = True) -> None:
        if self._quiet or self._input is None or not self.layer:
            return
        try:
            # One look-up of the forward pass per change; maps and statistics come from it.
            record = self.probe.run(self._input)
            maps = record.outputs[self._info.path]
            if grid:
                self._render_grid(record, maps)
            if focus:
                self._render_focus(maps)
            self._mark_grids(record)
            self._set_status(self._describe(record, maps))
        except Exception as err:  # the widget must stay usable: report, never raise into the UI
            self._show_error(err)

    def _grid_of(self, maps: np.ndarray, channels: np.ndarray, norm: Any,
                 cmap: str | None = None) -> ChannelGrid:
        """The grid of ``channels`` as this browser draws it (its columns, width, colormap)."""
        columns = min(self.columns, len(channels))
        width = self.grid_width if self.comparison is None else self.grid_width // 2
        tile = max(4, (width - (columns - 1)) // max(1, columns))
        return render_channel_grid(maps, channels, columns=columns, tile=tile,
                                   cmap=cmap or self.cmap, norm=norm)

    def _render_grid(self, record: ActivationRecord, maps: np.ndarray) -> None:
        channels = self._page_channels(record)
        stats = record.channel_stats(self._info.path)
        if self.comparison is None:
            self._grid = self._grid_of(maps, channels, scaling(stats, self.norm))
            self._show_grid(self.grid, self._grid)
            return
        assert self._input is not None
        other = self.comparison.probe.run(self._input)
        other_maps = other.outputs[self._info.path]
        # One scaling for both models, so that equal values look equal.
        common = scaling(joint_stats(stats, other.channel_stats(self._info.path)), self.norm)
        self._grid = self._grid_of(maps, channels, common)
        self._other_grid = self._grid_of(other_maps, channels, common)
        delta = difference(other_maps, maps)
        self._difference_grid = self._grid_of(delta, channels, scaling(delta, "symmetric"),
                                              cmap=DIFFERENCE_CMAP)
        self._show_grid(self.grid, self._grid)
        self._show_grid(self.other_grid, self._other_grid)
        self._show_grid(self.difference_grid, self._difference_grid)
        self.this_title.value = f"<b>{html.escape(self._this_label())}</b>"

    def _mark_grids(self, record: ActivationRecord) -> None:
        """Channel numbers on the tiles, and the focused channel's tile outlined."""
        if self._grid is None:
            return
        channels = list(self._grid.channels)
        selected = channels.index(self.channel) if self.channel in channels else None
        # A dead channel (constant over this image's map) says so on its tile.
        dead = record.channel_stats(self._info.path).dead
        boxes = self._grid.boxes()
        labels = [f"{c} dead" if dead[c] else str(c) for c in channels]
        figures = [self.grid] if self.comparison is None else [
            self.grid, self.other_grid, self.difference_grid]
        for figure in figures:
            figure.mark_tiles(boxes, labels, selected)

    @staticmethod
    def _show_grid(figure: PictureFigure, grid: ChannelGrid) -> None:
        height, width = grid.indices.shape
        figure.show(grid.to_png(), width, height)

    def _this_label(self) -> str:
        return f"epoch {self.epoch}" if self.timeline is not None else "this model"

    def export_html(self, path: str | Path, layers: Sequence[str] | None = None) -> Path:
        """Write one HTML file that scrubs this browser's grids with no kernel and no network.

        Every page of every layer (or of ``layers``) is rendered now, exactly as the browser
        shows it (its image, order, colormap, normalization, page size and columns); in the page
        a layer slider (← →) and a page slider (↑ ↓) swap them. Open it from disk, put it on a
        course page or a slide.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from convviz_widgets import LayerBrowser, zoo
        >>> browser = LayerBrowser(zoo.load_model("shapes"), image="star")
        >>> page = browser.export_html(pathlib.Path(tempfile.mkdtemp()) / "shapes.html")
        >>> page.stat().st_size < 10 * 2**20
        True
        """
        if self._input is None:
            raise ValueError("nothing is displayed yet; give the browser an image first.")
        infos = (self._spatial if layers is None else
                 [self._spatial_layer(self.probe.layer(name).path) for name in layers])
        record = self.probe.run(self._input)
        frames: dict[str, bytes] = {}
        notes: dict[str, str] = {}
        most_pages = 1
        for index, info in enumerate(infos):
            stats = record.channel_stats(info.path)
            maps = record.outputs[info.path]
            ordered = order_channels(stats, self.order)
            pages = max(1, -(-len(ordered) // self.page_size))
            most_pages = max(most_pages, pages)
            for page in range(pages):
                channels = ordered[page * self.page_size : (page + 1) * self.page_size]
                key = frame_key((index, page))
                frames[key] = self._grid_of(maps, channels, scaling(stats, self.norm)).to_png()
                height, width, count = maps.shape
                notes[key] = (f"{info.path} ({info.kind}) {height}×{width}×{count} · page "
                              f"{page + 1}/{pages} · channels {', '.join(map(str, channels))}")
        axes = [Axis("layer", [info.path for info in infos], ("ArrowLeft", "ArrowRight")),
                Axis("page", [str(p + 1) for p in range(most_pages)], ("ArrowUp", "ArrowDown"))]
        start = (infos.index(self._info) if self._info in infos else 0, self.page)
        return write_player(path, f"{self.probe.model.name}: feature maps", axes, frames,
                            notes, start)

    def _spatial_layer(self, path: str) -> LayerInfo:
        for info in self._spatial:
            if info.path == path:
                return info
        raise ValueError(f"layer {path!r} has no feature maps to export; choose among "
                         f"{[info.path for info in self._spatial][:6]}.")

    def compared_snapshot(self) -> np.ndarray:
        """The other model's grid on display (with ``compare=``), uint8 ``(H, W, 3)``."""
        if self._other_grid is None:
            raise ValueError("nothing is compared: give the browser compare=another model.")
        return np.array(self._other_grid.rgb)

    def difference_snapshot(self) -> np.ndarray:
        """The difference grid on display (this − other), uint8 ``(H, W, 3)``."""
        if self._difference_grid is None:
            raise ValueError("nothing is compared: give the browser compare=another model.")
        return np.array(self._difference_grid.rgb)

    def _render_focus(self, maps: np.ndarray) -> None:
        values = maps[:, :, self.channel]
        with self.focus_map.hold_sync(), self.focus.hold_sync():
            self._focus_color.colors = colorscale_colors(self.cmap)
            self.focus_map.x = np.arange(values.shape[1], dtype=np.float64)
            self.focus_map.y = np.arange(values.shape[0], dtype=np.float64)
            self.focus_map.color = values.astype(np.float64)
            self.focus.title = f"{self._info.path} · channel {self.channel}"
        # The range below the figure, where a long line wraps (a bqplot title cannot).
        self.focus_caption.value = html.escape(
            f"{self._info.path} · channel {self.channel}: "
            f"activation {values.min():.3g} to {values.max():.3g}")

    def _describe(self, record: ActivationRecord, maps: np.ndarray) -> str:
        info = self._info
        height, width, channels = maps.shape
        stats = record.channel_stats(info.path)
        dead = int(stats.dead.sum())
        parts = [
            f"{info.path} ({info.kind})",
            f"{height}×{width}×{channels}",
            f"values [{stats.low.min():.3g}, {stats.high.max():.3g}]",
            f"{dead} dead channel{'s' if dead != 1 else ''}"
            + (" (constant over this image)" if dead else ""),
            f"page {self.page + 1}/{self.page_count}",
        ]
        if self.class_names is not None and len(record.predictions) == 1:
            head = self.probe.heads[0]
            probabilities = head.probabilities(record.predictions[0])
            top = int(np.argmax(probabilities))
            name = self.class_names[top] if top < len(self.class_names) else str(top)
            kind = "" if head.value_kind == "probability" else f"{head.value_kind} "
            parts.append(f"prediction: {name} ({kind}{probabilities[top]:.0%})")
        note = getattr(self._input, "note", None)
        if note:
            parts.append(note)
        if self.comparison is not None and self._input is not None:
            other = self.comparison.probe.run(self._input).outputs[info.path]
            parts.append(f"largest |this − {self.comparison.label}| "
                         f"{float(np.abs(difference(other, maps)).max()):.3g}")
        return " · ".join(parts)

    def _default_layer(self) -> str:
        convs = [info for info in self._spatial if info.kind == "conv"]
        return (convs or self._spatial)[0].path

    def _save_name(self) -> str:
        return f"{self.layer.replace('/', '_')}_page{self.page + 1}.png"

    def _current_rgb(self) -> np.ndarray:
        if self._grid is None:
            raise ValueError("nothing is displayed yet; give the browser an image first.")
        return self._grid.rgb

    def __repr__(self) -> str:
        return f"LayerBrowser(layer={self.layer!r}, page={self.page}, channel={self.channel})"
