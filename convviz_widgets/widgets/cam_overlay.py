"""CAMOverlay: class activation maps over the image, scrubbed through classes and layers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np
import traitlets
from traitlets import Any as AnyTrait
from traitlets import Bool, Float, Int, Unicode, observe, validate

from .. import zoo
from ..engine.cam import METHODS
from ..engine.cam.base import upsample
from ..engine.cam.scorecam import class_probability, score_cam
from ..engine.faithfulness import CausalCurves, causal_curves, target_probability
from ..engine.gradients import BinaryTarget, ClassTarget
from ..engine.images import ImageInput
from ..engine.probe import ActivationProbe, shared_probe
from ..engine.render import apply_colormap, colormap_lut, encode_png, enlarge, heatmap_overlay
from ..engine.saliency import guided_gradcam, saliency_map, smoothgrad, vanilla_saliency
from .base import ConvvizWidget, PictureFigure
from .controls import ImageChooser, prepare_for


def _guided_gradcam(probe: Any, image: ImageInput, layer: str, target: Any) -> np.ndarray:
    return saliency_map(guided_gradcam(probe, image, layer, target))


def _saliency(probe: Any, image: ImageInput, layer: str, target: Any) -> np.ndarray:
    return vanilla_saliency(probe, image, target)


#: Methods whose map is at the input's resolution: ``(probe, image, layer, target) -> (H, W)``.
PIXEL_METHODS: dict[str, Callable[[Any, ImageInput, str, Any], np.ndarray]] = {
    "guided gradcam": _guided_gradcam,
    "saliency": _saliency,
}
#: Methods that run many passes: computed when the Run button is pressed.
SLOW_METHODS = ("scorecam", "smoothgrad")
ALL_METHODS = (*METHODS, *PIXEL_METHODS, *SLOW_METHODS)


class CAMOverlay(ConvvizWidget):
    """Class activation heat maps over the image, for any class and any conv layer.

    The top-k classes' gradients for every conv layer come from one batched forward and
    backward pass, so clicking another bar or moving the layer slider only redraws.

    Parameters
    ----------
    model : keras.Model or ActivationProbe
        A Keras 3 classifier (softmax over classes, or a single sigmoid unit).
    image : array, PIL image, path, bytes or str, optional
        The input image or a bundled sample's name (default: the cat photo).
    target : int or str, optional
        Class index to explain (default: the predicted class); ``"positive"`` or
        ``"negative"`` for a single-unit sigmoid model.
    layer : str, optional
        Conv layer to explain (default: the last one).
    method : str
        ``"gradcam"``, ``"gradcam++"``, ``"layercam"``, ``"eigencam"`` (maps at the layer's
        resolution); ``"guided gradcam"``, ``"saliency"`` (at the input's); ``"scorecam"`` and
        ``"smoothgrad"`` (slow: they run when the Run button is pressed).
    preprocess : callable, optional
        The model's preprocessing.
    class_names : sequence of str, optional
        Names for the bars and the status line; for a 1,000-class model the bundled ImageNet
        names are used by default, so ``keras.applications`` models are decoded offline.
    top_k : int
        Number of classes in the bar chart (default 5).

    Examples
    --------
    >>> from convviz_widgets import CAMOverlay, zoo
    >>> overlay = CAMOverlay(zoo.load_model("shapes"), image="star",
    ...                      class_names=zoo.class_names("shapes"))
    >>> overlay.snapshot().shape
    (320, 320, 3)
    """

    class_index = Int(0, help="Class explained (0/1 = positive/negative for a sigmoid unit).")
    layer = Unicode(help="Path of the conv layer explained.")
    method = Unicode("gradcam", help="CAM method: " + ", ".join(ALL_METHODS) + ".")
    alpha = Float(0.5, min=0.0, max=1.0, help="Opacity of the heat map over the image.")
    cmap = Unicode("jet", help="Colormap of the heat map.")
    image = AnyTrait(help="The input image: array, PIL image, path, bytes or a sample's name.")
    show_curves = Bool(False, help="Measure and plot the deletion/insertion curves of the map "
                                   "shown (Petsiuk et al., 2018).")

    def __init__(self, model: Any, image: Any = None, target: int | str | None = None,
                 layer: str | None = None, method: str = "gradcam",
                 preprocess: Callable[[np.ndarray], Any] | None = None,
                 class_names: Sequence[str] | None = None, *, top_k: int = 5,
                 display_size: int = 320) -> None:
        shared = isinstance(model, ActivationProbe)
        self.probe = model if shared else shared_probe(model, preprocess)
        self.gradients = self.probe.gradients
        self._layers = [info.path for info in self.gradients.layers]
        self.binary = self.gradients.head.units == 1
        units = 2 if self.binary else self.gradients.head.units
        self.class_names = list(class_names) if class_names is not None else (
            default_class_names(self.probe.model, units, self.binary))
        self.top_k = max(1, min(top_k, units))
        self.display_size = display_size
        self._input: ImageInput | None = None
        self._top: list[int] = []
        self._overlay: np.ndarray | None = None
        self._slow_maps: dict[tuple, np.ndarray] = {}
        self._scorers: dict[tuple[int, bool], Any] = {}
        self.curves: CausalCurves | None = None
        self._explicit_target = target
        super().__init__()
        self._build_controls(units)
        self.children = self._layout()
        self.add_class("convviz-cam-overlay")
        with self._batch():
            self.method = method
            self.layer = layer if layer is not None else self._layers[-1]
            self.image = image if image is not None else "cat"
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
        self.method_picker = widgets.Dropdown(options=list(ALL_METHODS), description="method",
                                              layout=widgets.Layout(width="220px"))
        self.run_button = widgets.Button(description="Run", icon="play",
                                         tooltip="compute the slow method (Score-CAM)")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(0, 0, 1, layout=widgets.Layout(width="160px"))
        self.alpha_slider = widgets.FloatSlider(0.5, min=0, max=1, step=0.05, description="alpha")
        self.cmap_picker = widgets.Dropdown(options=["jet", "turbo", "inferno", "viridis", "gray"],
                                            description="colormap",
                                            layout=widgets.Layout(width="200px"))
        self.overlay_view = PictureFigure("convviz-cam-image")
        self.map_view = PictureFigure("convviz-cam-map")
        x_scale, y_scale = bqplot.OrdinalScale(), bqplot.LinearScale(min=0.0, max=1.0)
        self.bars = bqplot.Bars(x=["-"], y=[0.0], scales={"x": x_scale, "y": y_scale},
                                colors=["#4c72b0"], interactions={"click": "select"},
                                selected_style={"fill": "#dd8452"})
        self.bars.on_element_click(self._on_bar_click)
        self.class_chart = bqplot.Figure(
            marks=[self.bars], title="top classes",
            axes=[bqplot.Axis(scale=x_scale),
                  bqplot.Axis(scale=y_scale, side="left", tick_format=".0%")],
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="420px", height="240px"))
        self.class_chart.add_class("convviz-cam-classes")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.curves_toggle = widgets.ToggleButton(False, description="deletion / insertion",
                                                  icon="line-chart",
                                                  tooltip="measure how faithful the map is")
        fraction = bqplot.LinearScale(min=0.0, max=1.0)
        score = bqplot.LinearScale(min=0.0, max=1.0)
        self.curve_lines = bqplot.Lines(
            x=[0.0, 1.0], y=[[0.0, 0.0], [0.0, 0.0]], colors=["#c44e52", "#55a868"],
            labels=["deletion", "insertion"], display_legend=True,
            scales={"x": fraction, "y": score})
        self.curve_chart = bqplot.Figure(
            marks=[self.curve_lines], title="deletion / insertion",
            axes=[bqplot.Axis(scale=fraction, label="share of pixels", tick_format=".0%"),
                  bqplot.Axis(scale=score, side="left", tick_format=".0%")],
            legend_location="right", title_style={"font-size": "12px"},
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 10},
            layout=widgets.Layout(width="420px", height="240px", display="none"))
        self.curve_chart.add_class("convviz-cam-curves")

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
            widgets.HBox([self.layer_slider, self.layer_label]),
            widgets.HBox([self.class_box, self.method_picker, self.run_button,
                          self.cancel_button, self.progress]),
            widgets.HBox([self.alpha_slider, self.cmap_picker, self.curves_toggle]),
            widgets.HBox([self.overlay_view.figure, self.map_view.figure]),
            widgets.HBox([self.class_chart, self.curve_chart]),
            self.status_line,
        ]

    # -- validation ---------------------------------------------------------------------------
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
            if proposal["value"] not in ALL_METHODS:
                raise ValueError(f"unknown CAM method {proposal['value']!r}; use one of "
                                 f"{', '.join(ALL_METHODS)}.")
        return proposal["value"]

    @validate("cmap")
    def _validate_cmap(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            colormap_lut(proposal["value"])
        return proposal["value"]

    @validate("class_index")
    def _validate_class(self, proposal: dict[str, Any]) -> int:
        with self._rejecting_bad_values():
            count = len(self.class_names) if self.binary else self.gradients.head.units
            if not 0 <= proposal["value"] < count:
                raise ValueError(f"class index {proposal['value']} is out of range: the model "
                                 f"has {count} classes (0 to {count - 1}).")
        return int(proposal["value"])

    @validate("image")
    def _validate_image(self, proposal: dict[str, Any]) -> Any:
        with self._rejecting_bad_values():
            self._input = prepare_for(self.probe, proposal["value"])
        return proposal["value"]

    # -- reactions ----------------------------------------------------------------------------
    @observe("image")
    def _on_image(self, change: dict[str, Any]) -> None:
        self._slow_maps.clear()
        if self._input is None:
            return
        try:
            scores = np.asarray(self.probe.predict(self._input)).ravel()
            if self.binary:
                self._top = [0, 1]
                probabilities = np.array([scores[0], 1.0 - scores[0]])
            else:
                self._top = [t.index for t in self.gradients.compute_top_k(self._input,
                                                                           self.top_k)]
                probabilities = scores
            self._show_classes(probabilities)
            with self._batch():
                self.class_index = self._initial_class()
        except Exception as err:  # the widget must stay usable
            self._show_error(err)
        self._refresh()

    @observe("layer", "class_index", "method", "alpha", "cmap", "show_curves")
    def _on_view_change(self, change: dict[str, Any]) -> None:
        if change["name"] == "show_curves":
            self.curve_chart.layout.display = None if change["new"] else "none"
        if change["name"] == "layer":
            self.layer_slider.value = self._layers.index(change["new"])
            info = self.probe.layer(change["new"])
            self.layer_label.value = info.describe()
        if change["name"] == "class_index" and change["new"] in self._top:
            self.bars.selected = [self._top.index(change["new"])]
        self._refresh()

    def _on_bar_click(self, _bars: Any, event: dict[str, Any]) -> None:
        self.class_index = self._top[int(event["data"]["index"])]

    # -- computing and drawing ----------------------------------------------------------------
    def target(self) -> ClassTarget | BinaryTarget:
        """The target currently explained."""
        if self.binary:
            return BinaryTarget(positive=self.class_index == 0)
        return ClassTarget(self.class_index)

    def cam_map(self) -> np.ndarray | None:
        """The map shown, at the layer's resolution (None while a slow method has not run)."""
        assert self._input is not None
        if self.method in SLOW_METHODS:
            return self._slow_maps.get((self.layer, self.class_index, self.method))
        if self.method in PIXEL_METHODS:
            return PIXEL_METHODS[self.method](self.probe, self._input, self.layer, self.target())
        return self.probe.cam(self._input, self.layer, self.target(), self.method).map

    def run(self, wait: bool = False) -> None:
        """Compute the slow method shown (Score-CAM, SmoothGrad) for this layer and class.

        Runs in a background thread, so the notebook stays responsive and **Cancel** can stop
        Score-CAM between two batches of channels; ``wait=True`` runs it here instead.
        """
        if self._input is None or self.method not in SLOW_METHODS or self._busy():
            return
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self._start(self._compute_slow, self._input, self.layer, self.class_index, self.method,
                    wait=wait)

    def _compute_slow(self, image: ImageInput, layer: str, class_index: int, method: str,
                      cancel: threading.Event) -> None:
        binary_negative = self.binary and class_index == 1
        target = BinaryTarget(positive=not binary_negative) if self.binary else ClassTarget(
            class_index)
        try:
            if method == "smoothgrad":
                self.progress.max, self.progress.value = 1, 0
                cam = smoothgrad(self.probe, image, target)
                self.progress.value = 1
            else:
                activations = self.probe.activations(image, layer)
                scores = class_probability(self.probe.model, 0 if self.binary else class_index,
                                           positive=not binary_negative)
                self.progress.max, self.progress.value = activations.shape[-1], 0

                def advance(done: int, total: int) -> None:
                    self.progress.value = done
                    if cancel.is_set():
                        raise _Cancelled

                cam = score_cam(scores, self.probe.model_input(image), activations,
                                progress=advance)
            self._slow_maps[(layer, class_index, method)] = cam
            self._refresh()
        except _Cancelled:
            self._set_status(f"{method} cancelled.")
        except Exception as err:  # the widget must stay usable: report, never raise
            self._show_error(err)
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True

    def _refresh(self) -> None:
        if self._quiet or self._input is None or not self.layer:
            return
        try:
            cam = self.cam_map()
            if cam is None:
                self._set_status(f"{self.method} is slow: press Run to compute it.")
                return
            self._draw(cam)
            if self.show_curves:
                self._measure(cam)
            self._set_status(self._describe(cam))
        except Exception as err:  # the widget must stay usable: report, never raise into the UI
            self._show_error(err)

    def _draw(self, cam: np.ndarray) -> None:
        assert self._input is not None
        factor = max(1, self.display_size // max(self._input.display.shape[:2]))
        picture = enlarge(self._input.display, factor)
        if picture.shape[2] == 1:
            picture = np.repeat(picture, 3, axis=2)
        heat = upsample(cam, picture.shape[:2])
        self._overlay = heatmap_overlay(picture, heat, self.cmap, self.alpha)
        height, width = self._overlay.shape[:2]
        self.overlay_view.show(encode_png(self._overlay), width, height)
        raw_factor = max(1, self.display_size // max(cam.shape))
        raw = enlarge(apply_colormap(cam, self.cmap), raw_factor)
        self.map_view.show(encode_png(raw), raw.shape[1], raw.shape[0])

    def _measure(self, cam: np.ndarray) -> None:
        """Deletion and insertion curves of the map shown, scored on the class probability."""
        assert self._input is not None
        index = 0 if self.binary else self.class_index
        positive = not (self.binary and self.class_index == 1)
        if (index, positive) not in self._scorers:
            self._scorers[(index, positive)] = target_probability(self.probe, index, positive)
        pixels = self._input.pixels
        self.curves = causal_curves(self._scorers[(index, positive)], pixels,
                                    upsample(cam, pixels.shape[:2]))
        with self.curve_lines.hold_sync(), self.curve_chart.hold_sync():
            self.curve_lines.x = self.curves.fractions
            self.curve_lines.y = [self.curves.deletion, self.curves.insertion]
            self.curve_chart.title = (f"deletion AUC {self.curves.deletion_auc:.3f} (lower is "
                                      f"better) · insertion AUC {self.curves.insertion_auc:.3f}")

    def _show_classes(self, probabilities: np.ndarray) -> None:
        with self.bars.hold_sync():
            self.bars.x = [self.class_names[i] for i in self._top]
            self.bars.y = [float(probabilities[i]) for i in self._top]

    def _initial_class(self) -> int:
        target = self._explicit_target
        if target is None:
            return self._top[0]
        if isinstance(target, str):
            return 0 if target == "positive" else 1
        return int(target)

    def _describe(self, cam: np.ndarray) -> str:
        assert self._input is not None
        scores = np.asarray(self.probe.predict(self._input)).ravel()
        if self.binary:
            predicted = f"{self.class_names[0]} {scores[0]:.0%}"
        else:
            top = int(np.argmax(scores))
            predicted = f"{self.class_names[top]} ({scores[top]:.0%})"
        info = self.probe.layer(self.layer)
        shape = "×".join(str(d) for d in info.output_shape or ())
        return (f"predicted: {predicted} · explaining: {self.class_names[self.class_index]} · "
                f"{info.path} {shape} · {self.method}")

    def _current_rgb(self) -> np.ndarray:
        if self._overlay is None:
            raise ValueError("nothing is displayed yet; give the overlay an image first.")
        return self._overlay

    def __repr__(self) -> str:
        return (f"CAMOverlay(layer={self.layer!r}, class_index={self.class_index}, "
                f"method={self.method!r})")


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


class _Cancelled(Exception):
    """Raised from Score-CAM's progress callback to stop between two batches."""
