"""What every explanation method is: a small class over one template, and what it may ask for.

A :class:`Method` names itself, says its resolution (a map over the explained layer's grid, or
over the input's pixels), whether it is slow (computed behind a Run button, with progress, and
cancellable), what it needs (gradients, a scorer, several passes) and the paper it comes from;
:meth:`Method.explain` turns a :class:`Request` into a map. :class:`CAMMethod` is the template
of the gradient CAM family (after pytorch-grad-cam): channel weights, the weighted sum of the
channels, a ReLU, and scaling to [0, 1]; a method overrides only what differs from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from ..images import ImageInput
from ..layers import LayerInfo
from ..maps import normalize_map, resize_map, upsample
from ..protocol import ModelProbe
from ..targets import Target

if TYPE_CHECKING:
    from ..gradients import GradientRecord, LayerGradients
    from ..saliency import InputGradients
    from ..scorer import Scorer

__all__ = ["CAMMethod", "Cancelled", "Method", "Request", "Tools", "normalize_map",
           "resize_map", "upsample"]

Progress = Callable[[int, int], Any]


class Cancelled(Exception):
    """Raised inside a slow method when its request was cancelled between two batches."""


class Tools(Protocol):
    """The shared, traced-once machinery a method may use (see :class:`~..explain.Explainer`)."""

    probe: ModelProbe

    @property
    def layer_gradients(self) -> LayerGradients:
        """Activations and class-score gradients of every conv layer, batched and cached."""
        ...

    def input_gradients(self, rule: str = "plain") -> InputGradients:
        """Input gradients with the given ReLU backward rule."""
        ...

    def scorer(self) -> Scorer:
        """Class probabilities of batches of model inputs."""
        ...


@dataclass(frozen=True)
class Request:
    """One explanation to compute: an image, a layer, a target, and the tools to do it with.

    ``progress(done, total)`` is called by slow methods between batches; ``cancel()`` returning
    True stops them there (:meth:`checkpoint` raises :class:`Cancelled`).
    """

    image: ImageInput
    layer: LayerInfo
    target: Target
    tools: Tools
    progress: Progress | None = None
    cancel: Callable[[], bool] | None = None

    def gradient_record(self) -> GradientRecord:
        """Activations and gradients of the target (one cached pass for every conv layer)."""
        return self.tools.layer_gradients.compute(self.image, [self.target])

    def activations(self) -> np.ndarray:
        """The explained layer's feature maps ``(h, w, C)`` (cached forward pass)."""
        return self.tools.probe.activations(self.image, self.layer.path)

    def checkpoint(self, done: int, total: int) -> None:
        """Report progress; raise :class:`Cancelled` if the request was cancelled."""
        if self.progress is not None:
            self.progress(done, total)
        if self.cancel is not None and self.cancel():
            raise Cancelled


class Method:
    """An explanation method. Subclasses set the class attributes and :meth:`explain`.

    Attributes
    ----------
    name : str
        The registry key and the name users pick (``"gradcam"``).
    title : str
        How the method is written in papers (``"Grad-CAM"``).
    resolution : {"layer", "input"}
        Whether the map lies on the explained layer's grid or on the input's pixels.
    slow : bool
        Many passes: computed on request (a Run button), with progress, cancellable.
    needs : frozenset of str
        Of ``"gradients"`` (a backward pass), ``"activations"`` (a forward pass),
        ``"scorer"`` (scores of modified inputs), ``"passes"`` (many passes), ``"layer"`` (a
        conv layer to explain, for input-resolution methods that use one).
    paper : str
        The paper it comes from.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    resolution: ClassVar[str] = "layer"
    slow: ClassVar[bool] = False
    needs: ClassVar[frozenset[str]] = frozenset({"gradients"})
    paper: ClassVar[str] = ""

    @property
    def uses_layer(self) -> bool:
        """Whether the map depends on which layer is explained."""
        return self.resolution == "layer" or "layer" in self.needs

    def explain(self, request: Request) -> np.ndarray:
        """The map, at :attr:`resolution`, in [0, 1]."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CAMMethod(Method):
    """A class activation map from a layer's activations ``A`` and gradients ``G`` (H, W, C).

    The template: per-channel weights from :meth:`channel_weights`, the weighted sum of the
    channels, a ReLU, and scaling to [0, 1]. A method overrides only what differs from it.
    """

    needs = frozenset({"gradients"})

    def channel_weights(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def raw_map(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        """The map before rectification and scaling."""
        weights = self.channel_weights(activations, gradients)
        return activations @ weights.astype(activations.dtype)

    def __call__(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        """The map at the layer's resolution, in [0, 1].

        The arrays stay float32 (a float64 copy of an early VGG16 layer costs more than its
        whole CAM); methods that need more precision for small vectors widen those themselves.
        """
        return normalize_map(self.raw_map(np.asarray(activations, np.float32),
                                          np.asarray(gradients, np.float32)))

    def explain(self, request: Request) -> np.ndarray:
        record = request.gradient_record()
        path = request.layer.path
        if path not in record.activations:
            watched = ", ".join(record.activations)
            raise ValueError(f"layer {path!r} is not a conv layer being explained; choose one "
                             f"of {watched}.")
        return self(record.activations[path], record.gradients[path][0])
