"""Deconvnet projections of a layer's strongest filters back to pixel space.

Zeiler & Fergus (2014, arXiv:1311.2901) reconstruct what excites a feature map by running it
back through the network: unpooling with the max-pool switches, rectifying, and filtering with
the transposed filters. That is a gradient with two changed rules: max pooling already routes
gradients through its switches and a conv layer's gradient already is the transposed filtering,
so only the ReLUs change (:func:`~.saliency.deconvnet_relu`). Biases do not enter a backward
pass, as in the paper's deconvnet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from .images import ImageInput, ImageSource
from .layer_edits import capture_outputs
from .layers import LayerInfo
from .protocol import LayerKey, ModelProbe
from .saliency import RULES, graph_preprocess_problem, relu_backward_rule


def top_filters(activations: np.ndarray, k: int) -> list[int]:
    """The ``k`` channels of ``(H, W, C)`` maps with the largest summed activation, largest first.

    Ties keep the lower channel index first.
    """
    sums = activations.reshape(-1, activations.shape[-1]).sum(axis=0, dtype=np.float64)
    return [int(i) for i in np.argsort(-sums, kind="stable")[: max(0, k)]]


class DeconvNet:
    """Project single feature maps of a layer back to the input, all filters in one pass.

    For each chosen filter, every other channel of the layer is zeroed and the filter's own
    feature map is the signal sent back (the gradient of ``sum(A * stop_gradient(A) * mask)``),
    which the deconvnet's ReLU rule rectifies on the way down. The function of each layer is
    traced once, lazily; one call projects a batch holding one copy of the image per filter.

    Deviations from Zeiler & Fergus (2014, arXiv:1311.2901): a filter's whole feature map is
    projected, as in Chollet-style tutorials, not only its strongest activation; layers other
    than conv, max pooling and ReLU (batch norm, dense, …) pass their ordinary gradient back.
    Projections are in pixel space when the probe's ``preprocess`` works on tensors and in the
    preprocessed input's space otherwise (:attr:`space`), as for
    :class:`~.saliency.InputGradients`.

    Parameters
    ----------
    probe : ModelProbe
        Supplies the model, its preprocessing, its layers (addressed by path) and the cached
        activations used to rank filters.
    rule : str
        ``"deconvnet"``; ``"guided"`` or ``"plain"`` project with those ReLU rules instead,
        for comparison.
    """

    def __init__(self, probe: ModelProbe, rule: str = "deconvnet") -> None:
        if rule not in RULES:
            raise ValueError(f"unknown backward rule {rule!r}; use one of {', '.join(RULES)}.")
        self.probe = probe
        self.rule = rule
        self.space: str | None = None
        self.preprocess_note: str | None = None
        self.calls = 0
        self._functions: dict[str, tuple[Any, Any]] = {}  # path -> (tf.function, concrete)

    def traces(self, layer: LayerKey) -> int:
        """How many times the projection function of ``layer`` was traced (1 once built)."""
        built = self._functions.get(self.probe.layer(layer).path)
        return 0 if built is None else built[0].experimental_get_tracing_count()

    def project(self, image: ImageSource | ImageInput, layer: LayerKey,
                filters: Sequence[int]) -> np.ndarray:
        """Projections ``(len(filters), H, W, C)`` float32 of the given filters, in one call."""
        info = self._spatial(layer)
        channels = int(info.channels or 0)
        for index in filters:
            if not 0 <= index < channels:
                raise ValueError(f"filter {index} is out of range: layer {info.path!r} has "
                                 f"{channels} filters (0 to {channels - 1}).")
        if not filters:
            raise ValueError("give at least one filter to project.")
        prepared = self.probe.prepare(image)
        project = self._function(info, prepared)
        point = (np.array(prepared.pixels[None], np.float32) if self.space == "pixels"
                 else self.probe.model_input(prepared))
        selectors = np.zeros((len(filters), channels), np.float32)
        selectors[np.arange(len(filters)), list(filters)] = 1.0
        batch = np.repeat(point, len(filters), axis=0)
        projections = project(tf.constant(batch), tf.constant(selectors))
        self.calls += 1
        return np.asarray(projections, np.float32)

    def top_k(self, image: ImageSource | ImageInput, layer: LayerKey, k: int = 4
              ) -> list[tuple[int, np.ndarray]]:
        """``(filter, projection (H, W, C))`` for the ``k`` filters of largest summed activation.

        Filters are ranked on the probe's cached activations, strongest first.
        """
        info = self._spatial(layer)
        filters = top_filters(self.probe.activations(image, info.path), k)
        if not filters:
            return []
        projections = self.project(image, info.path, filters)
        return list(zip(filters, projections, strict=True))

    def _spatial(self, layer: LayerKey) -> LayerInfo:
        info = self.probe.layer(layer)
        if not info.is_spatial:
            raise ValueError(f"layer {info.path!r} ({info.class_name}) outputs shape "
                             f"{info.output_shape}, not feature maps; choose a conv layer.")
        return info

    def _function(self, info: LayerInfo, image: ImageInput) -> Any:
        if info.path not in self._functions:
            self._functions[info.path] = self._build(info, image)
        return self._functions[info.path][1]

    def _build(self, info: LayerInfo, image: ImageInput) -> tuple[Any, Any]:
        probe = self.probe
        preprocess = probe.preprocess
        if self.space is None:
            self.preprocess_note = graph_preprocess_problem(
                preprocess, np.array(image.pixels[None]), probe.model_input(image))
            self.space = "pixels" if self.preprocess_note is None else "preprocessed"
        through = preprocess is not None and self.space == "pixels"
        model = probe.model

        def project(inputs: tf.Tensor, selectors: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                model_input = inputs
                if through and preprocess is not None:
                    model_input = tf.cast(preprocess(inputs), tf.float32)
                    if model_input.shape.rank == 3:
                        model_input = model_input[None]
                # The watcher wraps whatever call the layer has in this thread (a ReLU layer's
                # swapped rule too), so it records the output the rule produced.
                with capture_outputs([info]) as seen:
                    model(model_input, training=False)
            if info.path not in seen:
                raise RuntimeError(f"layer {info.path!r} was not called by the model.")
            activation = seen[info.path]
            signal = tf.cast(tf.stop_gradient(activation), tf.float32) * selectors[:, None, None, :]
            projected = tape.gradient(activation, inputs,
                                      output_gradients=tf.cast(signal, activation.dtype))
            return tf.cast(projected, tf.float32)

        spec = probe.input_spec
        function = tf.function(project, input_signature=[
            tf.TensorSpec((None, spec.height, spec.width, spec.channels), tf.float32),
            tf.TensorSpec((None, info.channels), tf.float32)])
        # Swapped only while tracing: the rule is baked into the graph, which never retraces.
        with relu_backward_rule(probe.layers, self.rule):
            return function, function.get_concrete_function()


def deconvnet(probe: ModelProbe, rule: str = "deconvnet") -> DeconvNet:
    """The probe's shared :class:`DeconvNet` for ``rule``, so each layer is traced once."""
    return probe.deconvnet(rule)


def deconv_projections(probe: ModelProbe, image: ImageSource | ImageInput,
                       layer: LayerKey, k: int = 4) -> list[tuple[int, np.ndarray]]:
    """Deconvnet projections (Zeiler & Fergus, 2014, arXiv:1311.2901) of a layer's top filters.

    The ``k`` filters with the largest summed activation for ``image``, strongest first, each
    with its ``(H, W, C)`` float32 projection to pixel space, all from one backward call. Show
    projections with :func:`~.saliency.deprocess`. Layers are addressed by path, nested models
    included (``"vgg16/block3_conv1"``).
    """
    return deconvnet(probe).top_k(image, layer, k)
