"""Scrubbing a widget through a recorded training: the ``epoch`` trait, its slider, and a plot of
the logged metrics whose points jump to their epoch.

Every widget on one :class:`~convviz_widgets.engine.timeline.Timeline` shows the same epoch:
the timeline swaps the weights into its one model and tells each widget, which redraws from its
caches (keyed by the weights shown, so nothing stale is ever drawn).
"""

from __future__ import annotations

from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np
from traitlets import HasTraits, Int, TraitError, observe, validate

from ..engine.timeline import Timeline
from .base import column
from .keys import Key, step


def with_timeline(model: Any, timeline: Timeline | None) -> tuple[Any, Timeline | None]:
    """``(model, timeline)`` for what a widget was given: a model, a probe or a timeline as its
    ``model`` argument, and maybe ``timeline=`` (whose model it must be)."""
    if isinstance(model, Timeline):
        if timeline is not None and timeline is not model:
            raise ValueError("give the timeline once: as the model or as timeline=, not both.")
        return model.model, model
    if timeline is not None:
        inner = getattr(model, "model", model)  # a probe's model
        if inner is not timeline.model:
            raise ValueError("timeline= must hold the widget's model: give Timeline(folder, "
                             "model=model), or pass the timeline alone.")
    return model, timeline


#: Colours of the metric lines: losses, then accuracies.
_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


class EpochControls(HasTraits):
    """``epoch`` and its controls, for a widget given a timeline (no controls without one).

    A subclass calls :meth:`_setup_epochs` before laying out its children, adds
    :attr:`epoch_box` to them, and implements :meth:`_weights_changed` (redraw whatever depends
    on the weights).
    """

    epoch = Int(0, help="Epoch of the recorded training shown (with a timeline).")

    timeline: Timeline | None = None
    epoch_box: widgets.Widget | None = None

    def _setup_epochs(self, timeline: Timeline | None) -> None:
        self.timeline = timeline
        if timeline is None:
            return
        epochs = timeline.epochs
        self.epoch_slider = widgets.SelectionSlider(options=epochs, value=epochs[-1],
                                                    description="epoch", continuous_update=True)
        self.epoch_slider.add_class("convviz-epoch-slider")
        self.metrics_chart = self._metrics_chart(timeline)
        self.epoch_box = column([self.epoch_slider, *(
            [self.metrics_chart] if self.metrics_chart is not None else [])])
        timeline.listen(self._follow_timeline)  # held weakly by the timeline

    def _start_epochs(self) -> None:
        """Show the timeline's current epoch (its last one if none is shown yet)."""
        if self.timeline is None:
            return
        self.epoch_slider.observe(self._on_epoch_slider, "value")
        shown = self.timeline.epoch
        self.epoch = shown if shown is not None else self.timeline.epochs[-1]
        if self.timeline.epoch != self.epoch:
            self.timeline.show(self.epoch)

    def _epoch_keys(self) -> list[Key]:
        """``[`` and ``]``: the previous and next recorded epoch (none without a timeline)."""
        if self.timeline is None:
            return []
        timeline = self.timeline
        return [Key(("[", "]"), "epoch", lambda by: setattr(
            self, "epoch", step(timeline.epochs, self.epoch, by)))]

    @validate("epoch")
    def _validate_epoch(self, proposal: dict[str, Any]) -> int:
        with self._rejecting_bad_values():  # type: ignore[attr-defined]
            if self.timeline is None:
                raise ValueError("this widget has no timeline; give it one: "
                                 "LayerBrowser(Timeline(folder), ...).")
            # A sentence if the epoch is not recorded or its file cannot be read (the file is
            # read here, once: showing it then takes the weights from memory).
            self.timeline.weights(proposal["value"])
        return int(proposal["value"])

    @observe("epoch")
    def _on_epoch(self, change: dict[str, Any]) -> None:
        if self.timeline is None:
            return
        if self.epoch_slider.value != change["new"]:
            self.epoch_slider.value = change["new"]
        if self.timeline.epoch != change["new"]:
            self.timeline.show(change["new"])

    _fixing_slider = False

    def _on_epoch_slider(self, change: dict[str, Any]) -> None:
        assert self.timeline is not None
        if self._fixing_slider:
            return
        try:
            self.epoch = change["new"]
        except TraitError:  # shown in the status line: the slider goes back to what is shown
            self._fixing_slider = True
            try:  # without a damaged checkpoint (new options move the value: put it back)
                self.epoch_slider.options = self.timeline.epochs
                self.epoch_slider.value = self.epoch
            finally:
                self._fixing_slider = False

    def _follow_timeline(self, epoch: int) -> None:
        """Called by the timeline after it showed ``epoch`` (from this widget or another)."""
        if self.epoch != epoch:
            self.set_trait("epoch", epoch)
        if self.metrics_chart is not None:
            self._mark_epoch(epoch)
        self._weights_changed()

    def _weights_changed(self) -> None:
        raise NotImplementedError

    # -- the metrics plot ---------------------------------------------------------------------
    metrics_chart: bqplot.Figure | None = None

    def _metrics_chart(self, timeline: Timeline) -> bqplot.Figure | None:
        metrics = timeline.metrics()
        if not metrics:
            return None
        epochs = np.asarray(timeline.epochs, np.float64)
        x_scale = bqplot.LinearScale()
        loss_scale, rate_scale = bqplot.LinearScale(), bqplot.LinearScale(min=0.0, max=1.0)
        marks = []
        for number, (name, values) in enumerate(sorted(metrics.items())):
            series = np.array([np.nan if v is None else v for v in values], np.float64)
            rate = "acc" in name
            marks.append(bqplot.Lines(
                x=epochs, y=series, labels=[name], display_legend=True,
                colors=[_COLORS[number % len(_COLORS)]],
                line_style="dashed" if name.startswith("val_") else "solid",
                scales={"x": x_scale, "y": rate_scale if rate else loss_scale}))
        self._epoch_points = bqplot.Scatter(
            x=epochs, y=np.zeros_like(epochs), scales={"x": x_scale, "y": rate_scale},
            colors=["#999999"], default_size=48, interactions={"click": "select"},
            tooltip=bqplot.Tooltip(fields=["x"], labels=["epoch"]))
        self._epoch_points.on_element_click(self._on_metrics_click)
        self._epoch_marker = bqplot.Lines(x=[0.0, 0.0], y=[0.0, 1.0], colors=["#222222"],
                                          scales={"x": x_scale, "y": rate_scale})
        axes = [bqplot.Axis(scale=x_scale, label="epoch", tick_format="d"),
                bqplot.Axis(scale=loss_scale, side="left", label="loss", num_ticks=5,
                            tick_format=".3~g"),
                bqplot.Axis(scale=rate_scale, side="right", label="accuracy",
                            tick_format=".0%")]
        chart = bqplot.Figure(display_toolbar=False,
            marks=[*marks, self._epoch_marker, self._epoch_points], axes=axes,
            title="training (click an epoch)", legend_location="top-right",
            fig_margin={"top": 30, "bottom": 40, "left": 55, "right": 55},
            title_style={"font-size": "12px"},
            layout=widgets.Layout(width="420px", height="220px", max_width="100%"))
        chart.add_class("convviz-metrics")
        return chart

    def _mark_epoch(self, epoch: int) -> None:
        with self._epoch_marker.hold_sync():
            self._epoch_marker.x = [float(epoch), float(epoch)]
        assert self.timeline is not None
        self._epoch_points.selected = [self.timeline.epochs.index(epoch)]

    def _on_metrics_click(self, _points: Any, event: dict[str, Any]) -> None:
        assert self.timeline is not None
        self.epoch = self.timeline.epochs[int(event["data"]["index"])]
