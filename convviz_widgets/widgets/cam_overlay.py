"""CAMOverlay: explanation maps over the image, scrubbed through classes, layers and methods."""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets
from traitlets import Bool, Float, Int, Unicode, observe, validate

from .. import zoo
from ..engine.cam import METHODS, CAMResult, Cancelled, get_method
from ..engine.compare import DIFFERENCE_CMAP, difference
from ..engine.faithfulness import CausalCurves, causal_curves
from ..engine.images import ImageInput
from ..engine.render import (
    COLORMAPS,
    apply_colormap,
    colormap_lut,
    encode_png,
    enlarge,
    heatmap_overlay,
)
from ..engine.targets import BinaryTarget, ClassTarget, Target
from ..engine.timeline import Timeline
from ..html_export import Axis, frame_key, write_player
from .base import (
    ColourBar,
    ConvvizWidget,
    InvalidValue,
    PictureFigure,
    column,
    probe_for,
    wrapping_row,
)
from .compare import Comparison
from .controls import ImageChooser, TakesImage, colormap_options
from .epochs import EpochControls, with_timeline
from .keys import Key, KeyboardControl, cycle, step
from .theme import check_theme, current_theme

OVERLAY_COLORMAPS = ("jet", "turbo", "inferno", "viridis", "gray")


class CAMOverlay(EpochControls, TakesImage, ConvvizWidget):
    """Explanation heat maps over the image, for any class, any conv layer and any method.

    The top-k classes' gradients for every conv layer come from one batched forward and
    backward pass, so clicking another bar or moving the layer slider only redraws. The methods
    are those of :data:`convviz_widgets.engine.cam.METHODS`; the slow ones (Score-CAM,
    SmoothGrad) run when **Run** is pressed, in a background thread, with progress and
    **Cancel**.

    Parameters
    ----------
    model : keras.Model or ActivationProbe
        A Keras 3 classifier (softmax over classes, a single sigmoid unit, or logits).
    image : array, PIL image, path, bytes or str, optional
        The input image or a bundled sample's name (default: the cat photo).
    target : int or str, optional
        Class index to explain (default: the predicted class); ``"positive"`` or
        ``"negative"`` for a single-unit sigmoid model.
    layer : str, optional
        Conv layer to explain (default: the last one).
    method : str
        A name of :data:`~convviz_widgets.engine.cam.METHODS`: ``"gradcam"``, ``"gradcam++"``,
        ``"layercam"``, ``"eigencam"``, ``"scorecam"`` (maps at the layer's resolution);
        ``"saliency"``, ``"smoothgrad"``, ``"guided backprop"``, ``"guided gradcam"``,
        ``"deconvnet"`` (at the input's).
    preprocess : callable, optional
        The model's preprocessing.
    class_names : sequence of str, optional
        One name per class (two, positive first, for a single unit); by default a bundled
        model's own, ImageNet's for 1,000 classes, else numbered.
    output : int or str, optional
        The output to explain, for a model with several (its index or name).
    top_k : int
        Number of classes in the bar chart (default 5).
    display_size : int, optional
        Side of the pictures in pixels (default 320; 400 in the projector theme).
    input_shape : (height, width, channels), optional
        For subclassed models whose input size Keras cannot tell.
    timeline : Timeline, optional
        A recorded training of ``model`` (or pass the timeline as ``model``): an ``epoch``
        slider and the training curves appear; the class chosen stays while epochs change.
    compare : keras.Model, ActivationProbe or int, optional
        Another model of the same architecture, or, with a timeline, an epoch: its overlay for
        the same class, layer and method is drawn beside this one, with the difference of the
        maps (this − other) on a diverging colormap, 0 in the middle.
    theme : {"default", "projector"}, optional
        The look (default: :func:`~convviz_widgets.set_theme`'s choice); ``"projector"`` has
        text of at least 18 pixels and 400-pixel pictures by default.

    Examples
    --------
    >>> from convviz_widgets import CAMOverlay, zoo
    >>> overlay = CAMOverlay(zoo.load_model("shapes"), image="star")
    >>> overlay.snapshot().shape, overlay.class_names[overlay.class_index]
    ((320, 320, 3), 'star')
    """

    class_index = Int(0, help="Class explained (0/1 = positive/negative for a sigmoid unit).")
    layer = Unicode(help="Path of the conv layer explained.")
    method = Unicode("gradcam", help="Explanation method: " + ", ".join(METHODS) + ".")
    alpha = Float(0.5, help="Opacity of the heat map over the image, from 0 to 1.")
    cmap = Unicode("jet", help="Matplotlib colormap of the heat map.")
    show_curves = Bool(False, help="Measure and plot the deletion/insertion curves of the map "
                                   "shown (Petsiuk et al., 2018).")

    def __init__(self, model: Any, image: Any = None, target: int | str | None = None,
                 layer: str | None = None, method: str = "gradcam",
                 preprocess: Callable[[np.ndarray], Any] | None = None,
                 class_names: Sequence[str] | None = None, *, output: int | str | None = None,
                 top_k: int = 5, display_size: int | None = None,
                 input_shape: tuple[int | None, ...] | None = None,
                 timeline: Timeline | None = None, compare: Any = None,
                 theme: str | None = None) -> None:
        theme = check_theme(theme if theme is not None else current_theme())
        if display_size is None:
            display_size = 400 if theme == "projector" else 320
        model, timeline = with_timeline(model, timeline)
        self.probe = probe_for(model, preprocess, input_shape)
        self.explainer = self.probe.explainer(output)
        self.comparison = Comparison.of(self.probe, compare, timeline, preprocess, input_shape)
        self.other_explainer = (self.comparison.probe.explainer(output)
                                if self.comparison is not None else None)
        self.head = self.explainer.head
        self._layers = [info.path for info in self.explainer.layers]
        if not self._layers:
            raise ValueError("the model has no conv layer to explain.")
        self.binary = self.head.binary
        units = 2 if self.binary else self.head.units
        self.class_names = _checked_names(class_names, self.probe.model, units, self.binary)
        self.top_k = max(1, min(int(top_k), units))
        if display_size < 16:
            raise ValueError(f"display_size must be at least 16 pixels, got {display_size}.")
        self.display_size = int(display_size)
        self._input: ImageInput | None = None
        self._pending: ImageInput | None = None
        self._top: list[int] = []
        self._chosen: int | None = None  # a class the user named: kept when the image changes
        self._overlay: np.ndarray | None = None
        self._other_overlay: np.ndarray | None = None
        self._difference: np.ndarray | None = None
        self.curves: CausalCurves | None = None
        super().__init__()
        self._setup_epochs(timeline)
        self._build_controls(units)
        self.children = self._layout()
        self.add_class("convviz-cam-overlay")
        with self._batch():
            self.theme = theme
            self._start_epochs()
            self.method = method
            self.layer = layer if layer is not None else self._layers[-1]
            self.image = image if image is not None else "cat"
            if target is not None:
                self._chosen = self.class_index = self._class_of(target)
            self._link_controls()
        self._refresh()

    # -- controls -----------------------------------------------------------------------------
    def _build_controls(self, units: int) -> None:
        self.images = ImageChooser(self)
        self.layer_slider = widgets.IntSlider(0, 0, len(self._layers) - 1, description="layer")
        self.layer_slider.add_class("convviz-cam-layer-slider")
        self.layer_label = widgets.Label()
        self.class_box = widgets.BoundedIntText(0, min=0, max=units - 1, description="class",
                                                layout=widgets.Layout(width="160px"))
        self.method_picker = widgets.Dropdown(
            options=[(cls.title + (" (slow)" if cls.slow else ""), name)
                     for name, cls in METHODS.items()],
            description="method", layout=widgets.Layout(width="240px"))
        self.run_button = widgets.Button(description="Run", icon="play",
                                         tooltip="compute the slow method (Score-CAM, SmoothGrad)")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(0, 0, 1, layout=widgets.Layout(width="160px"))
        self.alpha_slider = widgets.FloatSlider(0.5, min=0, max=1, step=0.05, description="alpha")
        self.cmap_picker = widgets.Dropdown(options=list(OVERLAY_COLORMAPS),
                                            description="colormap",
                                            layout=widgets.Layout(width="200px"))
        self.overlay_view = PictureFigure("convviz-cam-image")
        self.map_view = PictureFigure("convviz-cam-map")
        self.map_bar = ColourBar(self.cmap, "map, scaled")
        self.keyboard = KeyboardControl([self.overlay_view.figure, self.map_view.figure],
                                        self._key_bindings(), self._set_status)
        if self.comparison is not None:
            self.other_view = PictureFigure("convviz-cam-other")
            self.difference_view = PictureFigure("convviz-cam-difference")
        x_scale, y_scale = bqplot.OrdinalScale(), bqplot.LinearScale(min=0.0, max=1.0)
        self.bars = bqplot.Bars(x=["-"], y=[0.0], scales={"x": x_scale, "y": y_scale},
                                colors=["#4c72b0"], interactions={"click": "select"},
                                selected_style={"fill": "#dd8452"})
        self.bars.on_element_click(self._on_bar_click)
        self.class_chart = bqplot.Figure(display_toolbar=False,
            marks=[self.bars], title=f"top classes ({self.head.value_kind})",
            axes=[bqplot.Axis(scale=x_scale),
                  bqplot.Axis(scale=y_scale, side="left", tick_format=".0%", num_ticks=5)],
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="420px", height="240px", max_width="100%"))
        self.class_chart.add_class("convviz-cam-classes")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.curves_toggle = widgets.ToggleButton(False, description="deletion / insertion",
                                                  icon="line-chart",
                                                  tooltip="measure how faithful the map is",
                                                  layout=widgets.Layout(width="auto"))
        fraction = bqplot.LinearScale(min=0.0, max=1.0)
        score = bqplot.LinearScale(min=0.0, max=1.0)
        self.curve_lines = bqplot.Lines(
            x=[0.0, 1.0], y=[[0.0, 0.0], [0.0, 0.0]], colors=["#c44e52", "#55a868"],
            labels=["deletion", "insertion"], display_legend=True,
            scales={"x": fraction, "y": score})
        self.curve_chart = bqplot.Figure(display_toolbar=False,
            marks=[self.curve_lines], title="deletion / insertion",
            axes=[bqplot.Axis(scale=fraction, label="share of pixels", tick_format=".0%",
                              num_ticks=5),
                  bqplot.Axis(scale=score, side="left", tick_format=".0%", num_ticks=5)],
            legend_location="right", title_style={"font-size": "12px"},
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="420px", height="240px", max_width="100%",
                                  display="none"))
        self.curve_chart.add_class("convviz-cam-curves")

    def _key_bindings(self) -> list[Key]:
        return [
            Key(("ArrowLeft", "ArrowRight"), "layer",
                lambda by: setattr(self, "layer", step(self._layers, self.layer, by))),
            Key(("ArrowUp", "ArrowDown"), "class (by rank)",
                lambda by: setattr(self, "class_index", step(self._top, self.class_index, by))),
            Key(("Enter", "r"), "Run", lambda _: self.run()),
            Key(("Escape",), "Cancel", lambda _: self.cancel()),
            Key(("m",), "next method", lambda _: setattr(self, "method",
                                                         cycle(list(METHODS), self.method))),
            Key(("c",), "next colormap",
                lambda _: setattr(self, "cmap", cycle(OVERLAY_COLORMAPS, self.cmap))),
            *self._epoch_keys(),
        ]

    def _link_controls(self) -> None:
        for name, control in [("class_index", self.class_box), ("method", self.method_picker),
                              ("alpha", self.alpha_slider), ("cmap", self.cmap_picker),
                              ("show_curves", self.curves_toggle)]:
            traitlets.link((self, name), (control, "value"))
        self.layer_slider.observe(
            lambda change: setattr(self, "layer", self._layers[change["new"]]), "value")

    def _layout(self) -> list[widgets.Widget]:
        return [
            self.images.box,
            *([self.epoch_box] if self.epoch_box is not None else []),
            wrapping_row([self.layer_slider, self.layer_label]),
            wrapping_row([self.class_box, self.method_picker, self.run_button,
                          self.cancel_button, self.progress]),
            wrapping_row([self.alpha_slider, self.cmap_picker, self.curves_toggle]),
            wrapping_row([self.overlay_view.figure,
                          wrapping_row([self.map_view.figure, self.map_bar.figure])]),
            *([self._comparison_box()] if self.comparison is not None else []),
            wrapping_row([self.class_chart, self.curve_chart]),
            self._footer(),
        ]

    def _comparison_box(self) -> widgets.Widget:
        assert self.comparison is not None
        label = html.escape(self.comparison.label)
        return wrapping_row([
            column([widgets.HTML(f"<b>{label}</b>"), self.other_view.figure]),
            column([widgets.HTML(f"<b>difference: this − {label}</b> ({DIFFERENCE_CMAP}, "
                                       "0 in the middle)"), self.difference_view.figure]),
        ])

    # -- validation: check and return; the work happens in the observers --------------------
    @validate("layer")
    def _validate_layer(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            path = self.probe.layer(proposal["value"]).path
            if path not in self._layers:
                raise ValueError(f"layer {path!r} is not a conv layer; choose one of "
                                 f"{', '.join(self._layers)}.")
        return path

    @validate("method")
    def _validate_method(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            return get_method(proposal["value"]).name

    @validate("cmap")
    def _validate_cmap(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            colormap_lut(proposal["value"])
        return str(proposal["value"])

    @validate("alpha")
    def _validate_alpha(self, proposal: dict[str, Any]) -> float:
        with self._rejecting_bad_values():
            value = proposal["value"]
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not (
                    0.0 <= value <= 1.0):
                raise ValueError(f"alpha is the heat map's opacity, a number from 0 to 1, not "
                                 f"{value!r}.")
        return float(value)

    @validate("class_index")
    def _validate_class(self, proposal: dict[str, Any]) -> int:
        with self._rejecting_bad_values():
            value = proposal["value"]
            count = len(self.class_names)
            if not 0 <= value < count:
                raise ValueError(f"class index {value} is out of range: the model has {count} "
                                 f"classes (0 to {count - 1}).")
        return int(value)

    # -- reactions ----------------------------------------------------------------------------
    @observe("image")
    def _on_image(self, change: dict[str, Any]) -> None:
        if self._pending is None:
            return
        self._input, self._pending = self._pending, None
        try:
            self._rank_classes()
            with self._batch():
                self.class_index = self._top[0] if self._chosen is None else self._chosen
        except Exception as err:  # the widget must stay usable
            self._show_error(err)
        self._refresh()

    def _weights_changed(self) -> None:
        """Another epoch of the timeline: new top classes, the class explained kept."""
        if self._input is None:
            return
        try:
            self._rank_classes()
            if self.class_index in self._top:
                self.bars.selected = [self._top.index(self.class_index)]
        except Exception as err:  # the widget must stay usable
            self._show_error(err)
        self._refresh()

    def _rank_classes(self) -> None:
        """The top classes for the image and the weights shown, one batched pass for their
        gradients, and the bars."""
        assert self._input is not None
        with self.probe.weights.pinned():
            probabilities = self._probabilities()
            if self.binary:
                self._top = [0, 1]
            else:
                targets = self.explainer.layer_gradients.compute_top_k(self._input, self.top_k)
                self._top = [t.index for t in targets]
        self._show_classes(probabilities)

    @observe("layer", "class_index", "method", "alpha", "cmap", "show_curves")
    def _on_view_change(self, change: dict[str, Any]) -> None:
        name = change["name"]
        if name == "show_curves":
            self.curve_chart.layout.display = None if change["new"] else "none"
        elif name == "layer":
            self.layer_slider.value = self._layers.index(change["new"])
            self.layer_label.value = self.probe.layer(change["new"]).describe()
        elif name == "cmap":
            self.cmap_picker.options = colormap_options(OVERLAY_COLORMAPS, change["new"])
            self.cmap_picker.value = change["new"]
            self.map_bar.recolour(change["new"])
        elif name == "class_index" and change["new"] in self._top:
            self.bars.selected = [self._top.index(change["new"])]
        self._refresh()

    def _on_bar_click(self, _bars: Any, event: dict[str, Any]) -> None:
        self.class_index = self._top[int(event["data"]["index"])]

    # -- computing and drawing ----------------------------------------------------------------
    def target(self, class_index: int | None = None) -> Target:
        """The target currently explained (or that of ``class_index``)."""
        return self._target_of(self.class_index if class_index is None else class_index)

    def _target_of(self, index: int) -> Target:
        """The target of class ``index`` (0 = positive for a single sigmoid unit)."""
        return BinaryTarget(positive=index == 0) if self.binary else ClassTarget(index)

    def result(self, target: Target | None = None) -> CAMResult | None:
        """The explanation shown (None while a slow method has not run for this view)."""
        assert self._input is not None
        target = self.target() if target is None else target
        if get_method(self.method).slow:
            return self.explainer.cached(self._input, self.layer, target, self.method)
        return self.explainer.explain(self._input, self.layer, target, self.method)

    def export_html(self, path: str | Path, layers: Sequence[str] | None = None,
                    classes: Sequence[int] | None = None) -> Path:
        """Write one HTML file that scrubs this overlay with no kernel and no network.

        The overlay of every layer (or of ``layers``) × every class of the bar chart (or of
        ``classes``) is computed now with this widget's method, colormap and opacity, exactly
        as it shows them; in the page a layer slider (← →) and a class slider (↑ ↓) swap them.
        A slow method (Score-CAM, SmoothGrad) is computed for every frame, which takes a while.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from convviz_widgets import CAMOverlay, zoo
        >>> overlay = CAMOverlay(zoo.load_model("shapes"), image="star")
        >>> page = overlay.export_html(pathlib.Path(tempfile.mkdtemp()) / "cam.html")
        >>> page.suffix
        '.html'
        """
        if self._input is None:
            raise ValueError("nothing is displayed yet; give the overlay an image first.")
        chosen = list(self._layers if layers is None else
                      [self.probe.layer(name).path for name in layers])
        for name in chosen:
            if name not in self._layers:
                raise ValueError(f"layer {name!r} is not a conv layer; choose among "
                                 f"{self._layers[:6]}.")
        indices = [int(c) for c in (self._top if classes is None else classes)]
        for index in indices:
            if not 0 <= index < len(self.class_names):
                raise ValueError(f"class index {index} is out of range: the model has "
                                 f"{len(self.class_names)} classes.")
        title = get_method(self.method).title
        frames: dict[str, bytes] = {}
        notes: dict[str, str] = {}
        with self.probe.weights.pinned():
            for i, layer in enumerate(chosen):
                for j, index in enumerate(indices):
                    shown = self.explainer.explain(self._input, layer, self._target_of(index),
                                                   self.method)
                    key = frame_key((i, j))
                    frames[key] = encode_png(self._overlay_of(shown))
                    notes[key] = (f"{title} of {self.class_names[index]} at {layer} "
                                  f"(map {shown.map.shape[0]}×{shown.map.shape[1]})")
        axes = [Axis("layer", chosen, ("ArrowLeft", "ArrowRight")),
                Axis("class", [self.class_names[i] for i in indices], ("ArrowUp", "ArrowDown"))]
        start = (chosen.index(self.layer) if self.layer in chosen else 0,
                 indices.index(self.class_index) if self.class_index in indices else 0)
        return write_player(path, f"{self.probe.model.name}: {title}", axes, frames, notes,
                            start)

    def other_result(self, target: Target | None = None) -> CAMResult | None:
        """The compared model's explanation of the same view (None without ``compare=``, or
        while a slow method has not run for it)."""
        if self.other_explainer is None:
            return None
        assert self._input is not None
        target = self.target() if target is None else target
        if get_method(self.method).slow:
            return self.other_explainer.cached(self._input, self.layer, target, self.method)
        return self.other_explainer.explain(self._input, self.layer, target, self.method)

    def cam_map(self) -> np.ndarray | None:
        """The map shown, at its method's resolution (None while a slow method has not run)."""
        shown = self.result()
        return None if shown is None else shown.map

    def run(self, wait: bool = False) -> None:
        """Compute the slow method shown (Score-CAM, SmoothGrad) for this layer and class.

        Runs in a background thread, so the notebook stays responsive and **Cancel** stops it
        between two batches; ``wait=True`` runs it here instead. Pressed while a cancelled run
        is still ending, the new run starts as soon as it has.
        """
        if self._input is None or not get_method(self.method).slow or not self._may_start():
            return
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self._start(self._compute_slow, self._input, self.layer, self.target(), self.method,
                    wait=wait)

    def _compute_slow(self, image: ImageInput, layer: str, target: Target, method: str,
                      cancel: threading.Event) -> None:
        self.progress.max, self.progress.value = 1, 0

        title = get_method(method).title

        def advance(done: int, total: int) -> None:
            self.progress.max, self.progress.value = total, done
            self._set_status(f"{title} is running: {done}/{total}.")

        try:
            for explainer in (self.explainer, self.other_explainer):
                if explainer is not None:
                    explainer.explain(image, layer, target, method, progress=advance,
                                      cancel=cancel.is_set)
            self._refresh()
        except Cancelled:
            self._set_status(f"{method} cancelled.")
        except Exception as err:  # the widget must stay usable: report, never raise
            self._show_error(err)
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True

    def _refresh(self) -> None:
        if self._quiet or self._input is None or not self.layer:
            return
        try:
            with self.probe.weights.pinned():
                shown = self.result(self.target())  # the target, derived once per change
                if shown is None:
                    # No other method's map under this method's name: the image alone.
                    self._draw_pending()
                    title = get_method(self.method).title
                    self._set_status(f"{title} is running…" if self._busy() else
                                     f"{title} is slow: press Run to compute it.")
                    return
                self._draw(shown)
                if self.comparison is not None:
                    self._draw_comparison(shown, self.other_result(shown.target))
                if self.show_curves:
                    self._measure(shown)
                self._set_status(self._describe())
        except Exception as err:  # the widget must stay usable: report, never raise into the UI
            self._show_error(err)

    def _enlarged_image(self) -> tuple[int, np.ndarray]:
        """The image as the widget shows it (RGB), and the whole factor it is enlarged by."""
        assert self._input is not None
        factor = max(1, self.display_size // max(self._input.display.shape[:2]))
        picture = enlarge(self._input.display, factor)
        if picture.shape[2] == 1:
            picture = np.repeat(picture, 3, axis=2)
        return factor, picture

    def _overlay_of(self, shown: CAMResult) -> np.ndarray:
        """The overlay of ``shown`` on the image, as this widget draws it."""
        assert self._input is not None
        factor, picture = self._enlarged_image()
        # One upsampling per map (to the input's size, kept with the result); enlarging it
        # with the picture is a pixel copy.
        heat = enlarge(shown.upsampled, factor)
        return heatmap_overlay(picture, heat, self.cmap, self.alpha)

    def _draw(self, shown: CAMResult) -> None:
        self._overlay = self._overlay_of(shown)
        height, width = self._overlay.shape[:2]
        self.overlay_view.show(encode_png(self._overlay), width, height)
        raw_factor = max(1, self.display_size // max(shown.map.shape))
        raw = enlarge(apply_colormap(shown.map, self.cmap), raw_factor)
        self.map_view.show(encode_png(raw), raw.shape[1], raw.shape[0])

    def _draw_pending(self) -> None:
        """The image without a heat map, and an empty map, while a slow method has not run."""
        assert self._input is not None
        _, picture = self._enlarged_image()
        self._overlay = picture
        height, width = picture.shape[:2]
        self.overlay_view.show(encode_png(picture), width, height)
        blank = np.full((height, width, 3), 235, np.uint8)
        self.map_view.show(encode_png(blank), width, height)

    def _draw_comparison(self, shown: CAMResult, other: CAMResult | None) -> None:
        """The compared model's overlay, and the difference of the two maps (this − other)."""
        assert self._input is not None
        if other is None:
            return
        factor, picture = self._enlarged_image()
        self._other_overlay = heatmap_overlay(picture, enlarge(other.upsampled, factor),
                                              self.cmap, self.alpha)
        height, width = self._other_overlay.shape[:2]
        self.other_view.show(encode_png(self._other_overlay), width, height)
        delta = difference(other.upsampled, shown.upsampled)
        bound = float(np.abs(delta).max())
        centred = 0.5 + delta / (2 * bound) if bound > 0 else np.full_like(delta, 0.5)
        self._difference = enlarge(apply_colormap(centred, DIFFERENCE_CMAP), factor)
        self.difference_view.show(encode_png(self._difference), width, height)

    def compared_snapshot(self) -> np.ndarray:
        """The compared model's overlay on display (with ``compare=``), uint8 ``(H, W, 3)``."""
        if self._other_overlay is None:
            raise ValueError("nothing is compared: give the overlay compare=another model.")
        return np.array(self._other_overlay)

    def difference_snapshot(self) -> np.ndarray:
        """The difference of the maps on display (this − other), uint8 ``(H, W, 3)``."""
        if self._difference is None:
            raise ValueError("nothing is compared: give the overlay compare=another model.")
        return np.array(self._difference)

    def _measure(self, shown: CAMResult) -> None:
        """Deletion and insertion curves of the map shown, scored on the class probability."""
        assert self._input is not None
        score = self.explainer.scorer().on_pixels(shown.target)
        self.curves = causal_curves(score, self._input.pixels, shown.upsampled)
        with self.curve_lines.hold_sync(), self.curve_chart.hold_sync():
            self.curve_lines.x = self.curves.fractions
            self.curve_lines.y = [self.curves.deletion, self.curves.insertion]
            self.curve_chart.title = (f"deletion AUC {self.curves.deletion_auc:.3f} (lower is "
                                      f"better) · insertion AUC {self.curves.insertion_auc:.3f}")

    def _probabilities(self) -> np.ndarray:
        """One probability per class name (the positive and the negative side of one unit)."""
        assert self._input is not None
        values = self.head.probabilities(self.probe.predict(self._input, self.head.index))
        if self.binary:
            return np.array([values[0], 1.0 - values[0]])
        return values

    def _show_classes(self, probabilities: np.ndarray) -> None:
        with self.bars.hold_sync():
            self.bars.x = bar_labels([self.class_names[i] for i in self._top])
            self.bars.y = [float(probabilities[i]) for i in self._top]

    def _class_of(self, target: Any) -> int:
        """The class index of what the user gave as ``target`` (checked)."""
        with self._rejecting_bad_values():
            if self.binary and target in ("positive", "negative"):
                return 0 if target == "positive" else 1
            if self.binary:
                raise ValueError(f"this model has a single sigmoid unit: give target='positive' "
                                 f"or 'negative', not {target!r}.")
            resolved = self.explainer.target(self._input, target) if self._input is not None \
                else None
            if not isinstance(resolved, ClassTarget):
                raise ValueError(f"cannot explain {target!r}: give a class index.")
            return resolved.index

    def _describe(self) -> str:
        probabilities = self._probabilities()
        kind = "" if self.head.value_kind == "probability" else f"{self.head.value_kind} "
        if self.binary:
            predicted = f"{self.class_names[0]} {kind}{probabilities[0]:.0%}"
        else:
            top = int(np.argmax(probabilities))
            predicted = f"{self.class_names[top]} ({kind}{probabilities[top]:.0%})"
        info = self.probe.layer(self.layer)
        shape = "×".join(str(d) for d in info.output_shape or ())
        parts = [f"predicted: {predicted}", f"explaining: {self.class_names[self.class_index]}",
                 f"{info.path} {shape}", get_method(self.method).title]
        note = getattr(self._input, "note", None)
        if note:
            parts.append(note)
        return " · ".join(parts)

    def _save_name(self) -> str:
        method = self.method.replace(" ", "_")
        return f"{method}_{self.layer.replace('/', '_')}_class{self.class_index}.png"

    def _current_rgb(self) -> np.ndarray:
        if self._overlay is None:
            raise ValueError("nothing is displayed yet; give the overlay an image first.")
        return self._overlay

    def __repr__(self) -> str:
        return (f"CAMOverlay(layer={self.layer!r}, class_index={self.class_index}, "
                f"method={self.method!r})")


def bar_labels(names: Sequence[str], width: int = 12) -> list[str]:
    """Class names short enough not to overlap under their bars: cut to ``width`` characters
    with "…", still distinct (a rank is added where two cut names would be the same; the
    status line and the class box give the whole name).

    Examples
    --------
    >>> bar_labels(["tabby", "Egyptian cat", "American alligator", "American black bear"], 10)
    ['tabby', 'Egyptian…', 'American…', 'American… (4)']
    """
    labels: list[str] = []
    for rank, name in enumerate(names, 1):
        label = name if len(name) <= width else name[: width - 1].rstrip() + "…"
        labels.append(label if label not in labels else f"{label} ({rank})")
    return labels


def _checked_names(names: Sequence[str] | None, model: Any, units: int, binary: bool
                   ) -> list[str]:
    if names is None:
        return default_class_names(model, units, binary)
    names = [str(name) for name in names]
    if len(names) != units:
        what = "two names, positive first," if binary else f"{units} names, one per class,"
        raise InvalidValue(f"class_names has {len(names)} names but the model needs {what} "
                           "in the order of its outputs.")
    return names


def default_class_names(model: Any, units: int, binary: bool) -> list[str]:
    """Names when the user gives none: a bundled model's own, ImageNet's for 1,000 classes,
    else numbered ("positive"/"negative" for one sigmoid unit)."""
    bundled = zoo.bundled_class_names(model)
    if bundled is not None:
        return bundled
    if binary:
        return ["positive", "negative"]
    if units == 1000:
        return zoo.class_names("imagenet")
    return [f"class {i}" for i in range(units)]


__all__ = ["COLORMAPS", "CAMOverlay", "default_class_names"]
