"""Pieces shared by the widgets: status line, background jobs, bqplot picture, colour scales."""

from __future__ import annotations

import base64
import contextlib
import html
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bqplot
import ipywidgets as widgets
import numpy as np
from traitlets import TraitError, Unicode, observe, validate

from .. import zoo
from ..engine.files import write_picture
from ..engine.probe import ActivationProbe, shared_probe
from ..engine.render import colormap_lut, encode_png
from .theme import check_theme, style_sheet

#: The outline of the selected tile: a red that stands out on every colormap offered.
SELECTED_COLOUR = "#ff1744"


class InvalidValue(TraitError, ValueError):
    """A value a widget cannot show: both a ``traitlets.TraitError`` (what traits raise) and a
    ``ValueError`` (what the engine raises), so either ``except`` clause catches it."""


def status_html(message: str, error: bool = False) -> str:
    """Markup for a status line; errors are marked and coloured."""
    text = html.escape(message)
    if error:
        return f'<span class="convviz-error" style="color:#b00020">⚠ {text}</span>'
    return f'<span class="convviz-ok">{text}</span>'


def one_sentence(error: BaseException) -> str:
    """The message of an error as one sentence for a status line."""
    message = str(error).strip() or type(error).__name__
    if not isinstance(error, ValueError):
        message = f"{type(error).__name__}: {message}"
    return message[0].upper() + message[1:]


def colorscale_colors(cmap: str, stops: int = 9) -> list[str]:
    """Hex colours sampled from a colormap, for a bqplot ``ColorScale``."""
    lut = colormap_lut(cmap)
    picks = lut[np.linspace(0, 255, stops).round().astype(int)]
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in picks]


def wrapping_row(children: list[widgets.Widget]) -> widgets.HBox:
    """A row of controls or figures that wraps onto the next line where the screen is narrow
    (a projector at 1024 pixels, JupyterLab's file browser open, a zoomed page)."""
    return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap",
                                                        align_items="flex-start",
                                                        max_width="100%"))


def column(children: list[widgets.Widget]) -> widgets.VBox:
    """A column no wider than the space it is given (its figures narrow with it)."""
    return widgets.VBox(children, layout=widgets.Layout(max_width="100%"))


class PictureFigure:
    """A bqplot figure showing one RGB picture pixel for pixel, with clicks in pixel coordinates.

    A bqplot ``Image`` mark redraws when it is given another ``ipywidgets.Image``, not when its
    image changes value; so the figure keeps two image widgets and each update writes the one not
    shown and hands it to the mark (creating a widget per update cost a millisecond each).
    """

    def __init__(self, css_class: str, on_click: Callable[[float, float], None] | None = None):
        # No padding: the tile numbers and outline drawn over the picture must not shrink the
        # scales' range (bqplot pads it for Label and Lines marks), which clips the picture.
        self.x_scale = bqplot.LinearScale(min=0.0, max=1.0, allow_padding=False)
        self.y_scale = bqplot.LinearScale(min=0.0, max=1.0, reverse=True, allow_padding=False)
        self._images = (widgets.Image(value=b"", format="png"),
                        widgets.Image(value=b"", format="png"))
        # bqplot draws an Image mark's top edge at y[1]: with the y scale reversed (row 0 at the
        # top, so clicks come back as row coordinates) the extent is given as [height, 0].
        self.mark = bqplot.Image(image=self._images[0],
                                 scales={"x": self.x_scale, "y": self.y_scale},
                                 x=[0.0, 1.0], y=[1.0, 0.0])
        self.figure = bqplot.Figure(display_toolbar=False,
            marks=[self.mark], padding_x=0.0, padding_y=0.0,
            fig_margin={"top": 0, "bottom": 0, "left": 0, "right": 0},
            min_aspect_ratio=0.01, max_aspect_ratio=100.0,
            layout=widgets.Layout(width="320px", height="320px", margin="0", padding="0",
                                  max_width="100%"),
        )
        self.figure.add_class(css_class)
        if on_click is not None:
            self.mark.interactions = {"click": "select"}
            self.mark.on_element_click(
                lambda _mark, event: on_click(event["data"]["click_x"], event["data"]["click_y"])
            )
        self.png = b""
        self._numbers: list[bqplot.Label] | None = None
        self._outline: bqplot.Lines | None = None
        self._scale_to_screen = 1.0

    def mark_tiles(self, boxes: np.ndarray, labels: Sequence[str],
                   selected: int | None = None) -> None:
        """Number each tile at its top-left corner and outline the ``selected`` one.

        ``boxes`` are (left, top, right, bottom) rows in pixels of the picture. The marks are
        drawn over the picture (its pixels, and so ``snapshot()``, are unchanged); numbers are
        left out where tiles are too small to hold them.
        """
        if self._numbers is None:
            self._numbers = [bqplot.Label(x=[], y=[], text=[], colors=[colour], default_size=12,
                                          x_offset=3 + shift, y_offset=13 + shift,
                                          scales=self.mark.scales)
                             for colour, shift in (("black", 1), ("white", 0))]
            self._outline = bqplot.Lines(x=[], y=[], colors=[SELECTED_COLOUR], stroke_width=3,
                                         scales=self.mark.scales)
            self.figure.marks = [self.mark, *self._numbers, self._outline]
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        big_enough = len(boxes) and (boxes[0, 2] - boxes[0, 0]) * self._scale_to_screen >= 24
        for label in self._numbers:
            with label.hold_sync():
                label.x = boxes[:, 0] if big_enough else []
                label.y = boxes[:, 1] if big_enough else []
                label.text = list(labels) if big_enough else []
        if selected is None or not 0 <= selected < len(boxes):
            self._outline.x, self._outline.y = [], []
            return
        left, top, right, bottom = boxes[selected]
        with self._outline.hold_sync():
            self._outline.x = [left, right, right, left, left]
            self._outline.y = [top, top, bottom, bottom, top]

    def show(self, png: bytes, width: int, height: int, scale: float = 1.0) -> None:
        """Display ``png`` (``width`` × ``height`` pixels) at ``scale`` times its size.

        Where the page is narrower than that, the figure narrows and the picture keeps its
        proportions (the plot area's aspect ratio is pinned to the picture's).
        """
        spare = self._images[1] if self.mark.image is self._images[0] else self._images[0]
        spare.value = png  # reaches the page before the mark's switch to it (messages keep order)
        self.png = png
        with self.figure.hold_sync(), self.mark.hold_sync():
            self.x_scale.max = float(width)
            self.y_scale.max = float(height)
            self.mark.x = [0.0, float(width)]
            self.mark.y = [float(height), 0.0]
            self.mark.image = spare
            ratio = width / height
            # Each bound is checked against the other as it is set: widen the interval first.
            if ratio > self.figure.max_aspect_ratio:
                self.figure.max_aspect_ratio = ratio
                self.figure.min_aspect_ratio = ratio
            else:
                self.figure.min_aspect_ratio = ratio
                self.figure.max_aspect_ratio = ratio
            self._scale_to_screen = scale
            self.figure.layout.width = f"{round(width * scale)}px"
            self.figure.layout.height = f"{round(height * scale)}px"


class ColourBar:
    """A vertical colour bar for a picture drawn with a colormap: what the colours mean."""

    def __init__(self, cmap: str, label: str, low: float | None = 0.0, high: float | None = 1.0,
                 height: int = 320, scale: bqplot.ColorScale | None = None) -> None:
        # With ``scale``, the bar shares a picture's scale (and follows its data's range).
        self.scale = scale if scale is not None else bqplot.ColorScale(
            min=low, max=high, colors=colorscale_colors(cmap))
        self.axis = bqplot.ColorAxis(scale=self.scale, side="right",
                                     num_ticks=5, tick_format=".2~g", label=label)
        self.figure = bqplot.Figure(display_toolbar=False, marks=[], axes=[self.axis],
                                    fig_margin={"top": 30, "bottom": 10, "left": 10, "right": 90},
                                    layout=widgets.Layout(width="130px", height=f"{height}px"))
        self.figure.add_class("convviz-colour-bar")

    def recolour(self, cmap: str) -> None:
        """Show ``cmap``'s colours."""
        self.scale.colors = colorscale_colors(cmap)


class ConvvizWidget(widgets.VBox):
    """Base of the widgets: a status line, errors shown instead of raised, batched updates,
    and ``snapshot()`` / ``save(path)`` of the picture on display."""

    status = Unicode(read_only=True, help="The status line: what is shown, or the error.")
    theme = Unicode("default", help="'default', or 'projector' for a lecture hall: text at "
                    "least 18 px, thicker handles, high contrast (see set_theme).")

    def __init__(self, **kwargs: Any) -> None:
        self._quiet = 0
        self._worker: threading.Thread | None = None
        self._cancel = threading.Event()
        self._job_lock = threading.Lock()
        self._job_done = True
        self._run_again = False
        self.status_line = widgets.HTML()
        self.status_line.add_class("convviz-status")
        self.save_button = widgets.Button(description="Save PNG", icon="download",
                                          tooltip="a PNG of the picture on display, to download")
        self.save_button.add_class("convviz-save")
        self.save_button.on_click(lambda _: self._offer_download())
        self.save_link = widgets.HTML()
        self.save_link.add_class("convviz-save-link")
        super().__init__(**kwargs)
        self.layout.max_width = "100%"
        self.add_class("convviz-theme-default")

    @validate("theme")
    def _validate_theme(self, proposal: dict[str, Any]) -> str:
        with self._rejecting_bad_values():
            return check_theme(proposal["value"])

    @observe("theme")
    def _on_theme(self, change: dict[str, Any]) -> None:
        self.remove_class(f"convviz-theme-{change['old']}")
        self.add_class(f"convviz-theme-{change['new']}")

    def _footer(self) -> widgets.Widget:
        """The status line, then Save, its download link and the keyboard's help."""
        keyboard = getattr(self, "keyboard", None)
        return column([self.status_line, wrapping_row([
            self.save_button, self.save_link, *([keyboard.help] if keyboard else [])]),
            style_sheet()])

    def _save_name(self) -> str:
        """The file name offered for the picture on display."""
        return "convviz.png"

    def _offer_download(self) -> None:
        """Turn the picture on display into a download link (the same pixels as ``save()``):
        the browser saves it, wherever the kernel runs."""
        try:
            png = encode_png(self._current_rgb())
        except Exception as err:  # nothing displayed yet: say so, stay usable
            self._show_error(err)
            return
        name = html.escape(self._save_name())
        data = base64.b64encode(png).decode("ascii")
        self.save_link.value = (f'<a download="{name}" href="data:image/png;base64,{data}">'
                                f"⤓ download {name}</a> ({len(png) / 1024:.0f} KiB)")

    def _set_status(self, message: str, error: bool = False) -> None:
        probe = getattr(self, "probe", None)
        if not error and probe is not None and zoo.has_random_weights(probe.model):
            message = f"{message} · random weights (not trained: the pictures mean nothing yet)"
        self.set_trait("status", message)
        self.status_line.value = status_html(message, error)

    def _show_error(self, err: BaseException) -> None:
        self._set_status(one_sentence(err), error=True)

    @contextlib.contextmanager
    def _rejecting_bad_values(self) -> Iterator[None]:
        """Turn a ValueError into an :class:`InvalidValue`, after showing it in the status line
        (the trait keeps its value, the controls stay as they were)."""
        try:
            yield
        except InvalidValue as err:
            self._show_error(err)
            raise
        except (ValueError, TraitError) as err:
            self._show_error(err)
            raise InvalidValue(str(err)) from None

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """Hold back re-renders while several traits change together."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _start(self, job: Callable[..., None], *args: Any, wait: bool = False) -> None:
        """Run ``job(*args, cancel_event)`` in a background thread (or here if ``wait``).

        Long work (optimization, Score-CAM) runs off the kernel's main thread, so the other
        controls keep answering while it streams results; :meth:`cancel` sets the event the
        job checks between steps.
        """
        self._cancel = cancel = threading.Event()
        with self._job_lock:
            self._job_done = False
        if wait:
            self._finishing(job, args, cancel)
            return
        self._worker = threading.Thread(target=self._finishing, args=(job, args, cancel),
                                        daemon=True, name=f"convviz-{type(self).__name__}")
        self._worker.start()

    def _finishing(self, job: Callable[..., None], args: tuple, cancel: threading.Event) -> None:
        try:
            job(*args, cancel)
        finally:
            with self._job_lock:
                self._job_done = True
                again, self._run_again = self._run_again, False
            if again:  # Run was pressed while this cancelled job was ending
                self.run()

    def _busy(self) -> bool:
        with self._job_lock:
            return not self._job_done

    def _may_start(self) -> bool:
        """Whether a new run may start now. While a job runs it may not; if that job was
        cancelled, the new run is queued to start as soon as it ends (Run right after Cancel
        is never lost)."""
        with self._job_lock:
            if self._job_done:
                return True
            if self._cancel.is_set():
                self._run_again = True
        if self._run_again:
            self._set_status("the cancelled run is stopping; the new run starts right after.")
        return False

    def run(self, wait: bool = False) -> None:
        """Start the widget's slow computation (see subclasses)."""

    def cancel(self) -> None:
        """Stop the running job at its next step; what it finished is kept."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running job (if any) has ended."""
        if self._worker is not None:
            self._worker.join(timeout)

    def _current_rgb(self) -> np.ndarray:
        raise NotImplementedError

    def snapshot(self) -> np.ndarray:
        """The picture on display as a uint8 ``(H, W, 3)`` array (identical to what was sent)."""
        return np.array(self._current_rgb())

    def save(self, path: str | Path) -> Path:
        """Write the picture on display to ``path`` (``.png``, ``.jpg``, …) and return the path.

        The file is written whole or not at all, and a symlink at ``path`` is replaced, never
        written through.
        """
        return write_picture(self._current_rgb(), path)


def probe_for(model: Any, preprocess: Callable[[np.ndarray], Any] | None,
              input_shape: tuple[int | None, ...] | None) -> ActivationProbe:
    """The probe a widget works on: the one given, or the model's shared probe."""
    return shared_probe(model, preprocess, input_shape=input_shape)
