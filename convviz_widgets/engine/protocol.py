"""What the engine's methods need from a model probe: a small typed interface.

Gradients, saliency, deconvnet projections, explanation methods and faithfulness checks work on
any object with these members; :class:`~convviz_widgets.engine.probe.ActivationProbe` is the one
the package provides. The arrow points one way: those modules know this interface, never the
probe class, and the probe owns (and builds) their helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .heads import OutputHead
from .images import ImageInput, ImageSource
from .layers import LayerInfo
from .model_spec import InputSpec
from .weights import WeightsWatch

if TYPE_CHECKING:
    from .deconv import DeconvNet
    from .explain import Explainer

Preprocess = Callable[[np.ndarray], Any]
LayerKey = LayerInfo | str | int


class ModelProbe(Protocol):
    """A Keras model with its preprocessing, layers, input checks and a cached forward pass."""

    model: Any
    preprocess: Preprocess | None
    input_spec: InputSpec
    weights: WeightsWatch

    @property
    def layers(self) -> list[LayerInfo]:
        """Every leaf layer in call order, nested models included."""
        ...

    @property
    def spatial_layers(self) -> list[LayerInfo]:
        """Layers whose output is a grid of feature maps."""
        ...

    @property
    def heads(self) -> list[OutputHead]:
        """The model's outputs."""
        ...

    def layer(self, key: LayerKey) -> LayerInfo:
        """A layer by path, unique name or index."""
        ...

    def head(self, output: int | str | None = None) -> OutputHead:
        """One output, by index or name (None for a one-output model)."""
        ...

    def prepare(self, image: ImageSource | ImageInput) -> ImageInput:
        """The image checked and resized for the model."""
        ...

    def model_input(self, image: ImageInput) -> np.ndarray:
        """The float32 batch ``(1, H, W, C)`` fed to the model (preprocessed)."""
        ...

    def predict(self, image: ImageSource | ImageInput, output: int | str | None = None
                ) -> np.ndarray:
        """The model's output for the image (cached forward pass)."""
        ...

    def activations(self, image: ImageSource | ImageInput, layer: LayerKey) -> np.ndarray:
        """Feature maps ``(H, W, C)`` of a spatial layer (cached forward pass)."""
        ...

    def explainer(self, output: int | str | None = None) -> Explainer:
        """Every explanation method for one output, shared."""
        ...

    def deconvnet(self, rule: str = "deconvnet") -> DeconvNet:
        """Deconvnet projections of feature maps with ReLU rule ``rule``, shared."""
        ...
