"""Controls shared by the widgets: the image chooser (bundled samples and file upload)."""

from __future__ import annotations

import contextlib
from typing import Any

import ipywidgets as widgets
import numpy as np
from traitlets import Any as AnyTrait
from traitlets import HasTraits, TraitError, validate

from .. import zoo
from ..engine.images import ImageInput
from .base import wrapping_row

CUSTOM_IMAGE = "(your image)"


class ImageTrait(AnyTrait):
    """A widget's ``image``: anything :func:`prepare_for` reads; None goes to the validator too
    (a plain ``Any`` accepts None without asking it), which refuses it with a sentence."""

    allow_none = False


class TakesImage(HasTraits):
    """The ``image`` trait of a widget over one probe.

    Each value is prepared once, when it is set (a bad one is refused with a sentence in the
    status line, and the widget keeps its image); the widget's own ``image`` observer takes the
    prepared image from ``self._pending``. Mixed into widgets that also derive from
    :class:`~convviz_widgets.widgets.base.ConvvizWidget`.
    """

    image = ImageTrait(help="The input image: array, PIL image, path, bytes or a sample's name.")
    _pending: ImageInput | None = None

    @validate("image")
    def _validate_image(self, proposal: dict[str, Any]) -> Any:
        with self._rejecting_bad_values():  # type: ignore[attr-defined]
            self._pending = prepare_for(self.probe, proposal["value"])  # type: ignore[attr-defined]
        return proposal["value"]


def prepare_for(probe: Any, value: Any) -> ImageInput:
    """Prepare ``value`` for ``probe``'s model; a bundled sample's name loads that sample."""
    if isinstance(value, str) and value in zoo.image_names():
        value = zoo.load_image(value)
        if probe.input_spec.channels == 1:
            value = value @ np.array([0.299, 0.587, 0.114])
    return probe.prepare(value)


def colormap_options(offered: tuple[str, ...] | list[str], chosen: str) -> list[str]:
    """A colormap dropdown's options: the ones offered, plus the chosen one if it is another
    valid matplotlib colormap (``"viridis_r"``), so control and trait always agree."""
    return list(offered) if chosen in offered else [*offered, chosen]


def uploaded_bytes(value: Any) -> tuple[str, bytes] | None:
    """Name and content of the first file in an ipywidgets 8 ``FileUpload`` value."""
    if not value:
        return None
    first = value[0]
    return str(first.get("name", "upload")), bytes(first["content"])


class ImageChooser:
    """A dropdown of bundled samples and a file upload, bound to ``owner.image``.

    Choosing a sample or uploading a file sets the owner's ``image`` trait (whose validation
    reports bad files in the owner's status line); setting the trait from code shows
    "(your image)" in the dropdown unless it names a sample.
    """

    def __init__(self, owner: HasTraits) -> None:
        self.owner = owner
        self.picker = widgets.Dropdown(options=zoo.image_names(), description="image")
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
        self.box = wrapping_row([self.picker, self.upload])
        self._showing = False
        self.picker.observe(self._on_pick, "value")
        self.upload.observe(self._on_upload, "value")
        owner.observe(self._show, "image")

    def _show(self, change: dict[str, Any]) -> None:
        value = change["new"]
        named = isinstance(value, str) and value in zoo.image_names()
        self._showing = True
        try:
            if not named and CUSTOM_IMAGE not in self.picker.options:
                self.picker.options = [*zoo.image_names(), CUSTOM_IMAGE]
            self.picker.value = value if named else CUSTOM_IMAGE
        finally:
            self._showing = False

    def _on_pick(self, change: dict[str, Any]) -> None:
        if self._showing or change["new"] in (None, CUSTOM_IMAGE):
            return
        with contextlib.suppress(TraitError):  # the owner's status line already says why
            self.owner.image = change["new"]

    def _on_upload(self, change: dict[str, Any]) -> None:
        upload = uploaded_bytes(change["new"])
        if upload is not None:
            with contextlib.suppress(TraitError):
                self.owner.image = upload[1]
