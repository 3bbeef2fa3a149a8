"""ActivationProbe: every layer's output from one forward pass, built lazily and cached."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from .cache import ByteLRU, PerModel
from .heads import OutputHead, output_heads, select_head
from .images import ImageInput, ImageSource, prepare_image
from .layer_edits import capture_outputs
from .layers import LayerInfo, discover_layers, resolve_layer
from .model_spec import InputSpec, check_model, smallest_input_size, too_small_message
from .protocol import LayerKey, Preprocess
from .render import ChannelStats
from .weights import WeightsWatch, weights_watch

if TYPE_CHECKING:
    from .cam import CAMResult, Method
    from .deconv import DeconvNet
    from .explain import Explainer
    from .gradients import LayerGradients


@dataclass(frozen=True)
class ActivationRecord:
    """What one forward pass produced for one image.

    Attributes
    ----------
    image : ImageInput
        The prepared image.
    outputs : dict of str to numpy.ndarray
        Every captured layer's output for this image, batch axis removed, keyed by layer path.
    predictions : tuple of numpy.ndarray
        The model's outputs for this image (one per output head), batch axis removed.
    """

    image: ImageInput
    outputs: dict[str, np.ndarray]
    predictions: tuple[np.ndarray, ...]
    stats: dict[str, ChannelStats] = field(default_factory=dict, repr=False)

    @property
    def prediction(self) -> np.ndarray:
        """The first (for most models, the only) output."""
        return self.predictions[0]

    def channel_stats(self, path: str) -> ChannelStats:
        """Per-channel min, max and mean of a spatial layer, computed once."""
        if path not in self.stats:
            self.stats[path] = ChannelStats.of(self.outputs[path])
        return self.stats[path]

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays of this record."""
        return (sum(p.nbytes for p in self.predictions)
                + sum(a.nbytes for a in self.outputs.values()))


class ActivationProbe:
    """Serve every layer's activations for an image from one forward pass.

    The extractor (a ``tf.function`` that runs the model once and returns every layer's output,
    nested models included) is built on first use. Results are cached in a least-recently-used
    cache bounded by bytes and keyed by the weights' version and the image's content, so looking
    at another layer, page, colormap or normalization of an image never runs the network again,
    and training the model (or loading other weights) is never answered from the old pass.

    Parameters
    ----------
    model : keras.Model
        Sequential, functional or nested Keras 3 model taking ``(batch, H, W, C)`` images, with
        one output or several. It is never modified: layers are watched only while the
        extractor is traced, and only by the tracing thread.
    preprocess : callable, optional
        Applied to the float32 batch ``(1, H, W, C)`` on the 0–255 scale before the model, e.g.
        ``keras.applications.vgg16.preprocess_input``. Displays use the unprocessed image.
    input_shape : (height, width, channels), optional
        Needed only for subclassed models whose input size Keras cannot tell.
    cache_bytes : int
        Memory budget of the activation cache (default 512 MiB).

    Examples
    --------
    >>> from convviz_widgets import zoo
    >>> probe = ActivationProbe(zoo.load_model("shapes"))
    >>> maps = probe.activations(zoo.load_image("star"), "block1_conv1")
    >>> maps.shape
    (64, 64, 16)
    """

    def __init__(
        self,
        model: Any,
        preprocess: Preprocess | None = None,
        *,
        input_shape: tuple[int | None, ...] | None = None,
        cache_bytes: int = 512 * 2**20,
    ) -> None:
        self.model = model
        self.preprocess = preprocess
        self.input_spec: InputSpec = check_model(model, input_shape)
        self._layers = discover_layers(model)
        if not self._layers:
            raise ValueError("the model has no layers to look inside.")
        self.weights: WeightsWatch = weights_watch(model)
        self._cache: ByteLRU[ActivationRecord] = ByteLRU(cache_bytes)
        self._extractor: Any = None
        self._heads: list[OutputHead] | None = None
        self._explainers: dict[int, Explainer] = {}
        self._deconvnets: dict[str, DeconvNet] = {}
        self._building = threading.RLock()
        self._smallest: tuple[int | None] | None = None
        self._shapes_known = all(info.output_shape is not None for info in self._layers)
        self.forward_passes = 0

    @property
    def layers(self) -> list[LayerInfo]:
        """Every leaf layer, in call order, with path, kind and output shape."""
        if not self._shapes_known:
            self._learn_shapes()
        return list(self._layers)

    @property
    def spatial_layers(self) -> list[LayerInfo]:
        """Layers whose output is a grid of feature maps ``(H, W, C)``.

        Input preprocessing layers (``Rescaling``, ``Resizing``, …) are left out: their output
        is still the image, not features. :meth:`activations` serves them all the same.
        """
        return [info for info in self.layers
                if info.is_spatial and info.kind != "preprocessing"]

    def layer(self, key: LayerKey) -> LayerInfo:
        """Find a layer by path (``"vgg16/block1_conv1"``), unique name or index."""
        return resolve_layer(self.layers, key)

    @property
    def heads(self) -> list[OutputHead]:
        """The model's outputs (see :class:`~convviz_widgets.engine.heads.OutputHead`)."""
        if self._heads is None:
            self._heads = output_heads(self.model, self.layers)
        return self._heads

    def head(self, output: int | str | None = None) -> OutputHead:
        """One output by index or name; None for a one-output model (else a clear error)."""
        return select_head(self.heads, output)

    def prepare(self, image: ImageSource | ImageInput) -> ImageInput:
        """Check and resize ``image`` for this model (see :func:`prepare_image`).

        For a model with a free input size, an image smaller than the model can take is
        refused here, with the smallest size that works.
        """
        if isinstance(image, ImageInput):
            return image
        spec = self.input_spec
        prepared = prepare_image(image, size=(spec.height, spec.width), channels=spec.channels)
        if spec.height is None or spec.width is None:
            message = too_small_message(self.model, spec, prepared.shape, self._smallest_side())
            if message is not None:
                raise ValueError(message)
        return prepared

    def _smallest_side(self) -> int | None:
        if self._smallest is None:
            self._smallest = (smallest_input_size(self.model, self.input_spec),)
        return self._smallest[0]

    def run(self, image: ImageSource | ImageInput) -> ActivationRecord:
        """All layer outputs for ``image``: from the cache, or from one forward pass."""
        prepared = self.prepare(image)
        # Keyed by the weights' version: passes of other weights are never served, and those
        # of weights shown again (an earlier epoch of a timeline) are, while the LRU holds them.
        key = (self.weights.check(), prepared.key)
        record = self._cache.get(key)
        if record is None:
            record = self._forward(prepared)
            self._cache.put(key, record, record.nbytes)
        return record

    def outputs(self, image: ImageSource | ImageInput, layer: LayerKey) -> np.ndarray:
        """The output of any layer for ``image``, batch axis removed."""
        info = self.layer(layer)
        return self.run(image).outputs[info.path]

    def spatial(self, layer: LayerKey) -> LayerInfo:
        """The layer, checked to output feature maps ``(H, W, C)``.

        Raises
        ------
        ValueError
            If the layer does not output a grid of feature maps (a Dense layer, say).
        """
        info = self.layer(layer)
        if not info.is_spatial:
            suggestion = self.spatial_layers[-1].path if self.spatial_layers else None
            hint = f", e.g. {suggestion!r}" if suggestion else ""
            raise ValueError(
                f"layer {info.path!r} ({info.class_name}) outputs shape {info.output_shape}, "
                f"not feature maps (height, width, channels); choose a conv or pool layer{hint}."
            )
        return info

    def activations(self, image: ImageSource | ImageInput, layer: LayerKey) -> np.ndarray:
        """Feature maps ``(H, W, C)`` float32 of a conv, pool or other spatial layer."""
        return self.run(image).outputs[self.spatial(layer).path]

    def channel_stats(self, image: ImageSource | ImageInput, layer: LayerKey) -> ChannelStats:
        """Per-channel min, max and mean of a spatial layer (computed once per image and layer)."""
        return self.run(image).channel_stats(self.spatial(layer).path)

    def predict(self, image: ImageSource | ImageInput, output: int | str | None = None
                ) -> np.ndarray:
        """The model's output for ``image`` (from the same cached forward pass).

        ``output`` picks one of several outputs (index or name); a one-output model needs none.
        """
        predictions = self.run(image).predictions
        if output is None and len(predictions) == 1:
            return predictions[0]
        return predictions[self.head(output).index]

    def explainer(self, output: int | str | None = None) -> Explainer:
        """Every explanation method for one output (built on first use and shared)."""
        from .explain import Explainer

        head = self.head(output)
        with self._building:
            if head.index not in self._explainers:
                self._explainers[head.index] = Explainer(self, head.index)
            return self._explainers[head.index]

    @property
    def gradients(self) -> LayerGradients:
        """Gradients of class scores for every conv layer (of a one-output model), shared."""
        return self.explainer().layer_gradients

    def deconvnet(self, rule: str = "deconvnet") -> DeconvNet:
        """The shared :class:`~convviz_widgets.engine.deconv.DeconvNet` for ``rule``."""
        from .deconv import DeconvNet

        with self._building:
            if rule not in self._deconvnets:
                self._deconvnets[rule] = DeconvNet(self, rule)
            return self._deconvnets[rule]

    def cam(self, image: ImageSource | ImageInput, layer: LayerKey | None = None,
            target: Any = None, method: str | Method = "gradcam", *,
            output: int | str | None = None, progress: Callable[[int, int], Any] | None = None,
            cancel: Callable[[], bool] | None = None) -> CAMResult:
        """An explanation of ``layer`` for ``target`` (default: the predicted class).

        ``method`` is any name of :data:`convviz_widgets.engine.cam.METHODS` (Grad-CAM and its
        family, Score-CAM, saliency, SmoothGrad, guided backpropagation, guided Grad-CAM,
        deconvnet); see :meth:`Explainer.explain`. Every conv layer's gradient CAM comes from
        the same forward and backward pass.

        Examples
        --------
        >>> from convviz_widgets import zoo
        >>> probe = ActivationProbe(zoo.load_model("shapes"))
        >>> result = probe.cam(zoo.load_image("star"), "block4_conv2", target=3)
        >>> result.map.shape, result.upsampled.shape
        ((16, 16), (64, 64))
        """
        return self.explainer(output).explain(image, layer, target, method, progress=progress,
                                              cancel=cancel)

    def clear_cache(self) -> None:
        """Forget every cached forward pass."""
        self._cache.clear()

    @property
    def cache(self) -> ByteLRU[ActivationRecord]:
        """The activation cache (``len``, ``nbytes``, ``hits``, ``misses``)."""
        return self._cache

    def _build_extractor(self) -> Any:
        spec = self.input_spec
        signature = tf.TensorSpec((None, spec.height, spec.width, spec.channels), tf.float32)
        model, layers = self.model, self._layers

        def extract(batch: tf.Tensor) -> tuple[Any, dict[str, Any]]:
            with capture_outputs(layers) as captured:
                outputs = model(batch, training=False)
            if isinstance(outputs, dict):
                outputs = list(outputs.values())
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            return ([_as_float32(o) for o in outputs],
                    {k: _as_float32(v) for k, v in captured.items() if tf.is_tensor(v)})

        return tf.function(extract, input_signature=[signature])

    def model_input(self, image: ImageInput) -> np.ndarray:
        """The float32 batch ``(1, H, W, C)`` fed to the model: the pixels, preprocessed."""
        batch = np.array(image.pixels[None])  # a writable copy for in-place preprocessors
        if self.preprocess is not None:
            batch = self.preprocess(batch)
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        return batch

    def _extractor_function(self) -> Any:
        with self._building:
            if self._extractor is None:
                self._extractor = self._build_extractor()
            return self._extractor

    def _forward(self, image: ImageInput) -> ActivationRecord:
        extractor = self._extractor_function()
        try:
            predictions, captured = extractor(self.model_input(image))
        except (tf.errors.InvalidArgumentError, ValueError) as error:
            message = too_small_message(self.model, self.input_spec, image.shape,
                                        self._smallest_side())
            if message is None:
                raise
            raise ValueError(message) from error
        self.forward_passes += 1
        outputs = {path: np.asarray(t)[0] for path, t in captured.items()}
        if not self._shapes_known:
            self._layers = [
                replace(info, output_shape=outputs[info.path].shape)
                if info.output_shape is None and info.path in outputs else info
                for info in self._layers
            ]
            self._shapes_known = True
        return ActivationRecord(image=image, outputs=outputs,
                                predictions=tuple(np.asarray(p)[0] for p in predictions))

    def _learn_shapes(self) -> None:
        concrete = self._extractor_function().get_concrete_function()
        _, captured = concrete.structured_outputs
        shapes = {path: tuple(t.shape[1:]) for path, t in captured.items()}
        self._layers = [
            replace(info, output_shape=shapes.get(info.path)) if info.output_shape is None else info
            for info in self._layers
        ]
        self._shapes_known = True

    def __repr__(self) -> str:
        spec = self.input_spec
        return (
            f"ActivationProbe({self.model.name!r}, input={spec.height}×{spec.width}×"
            f"{spec.channels}, layers={len(self._layers)}, cached={len(self._cache)})"
        )


def _as_float32(tensor: Any) -> Any:
    """Floating outputs as float32 (mixed-precision layers compute in float16)."""
    if tensor.dtype.is_floating and tensor.dtype != tf.float32:
        return tf.cast(tensor, tf.float32)
    return tensor


_SHARED: PerModel[ActivationProbe] = PerModel(ActivationProbe)


def shared_probe(model: Any, preprocess: Preprocess | None = None, *,
                 input_shape: tuple[int | None, ...] | None = None) -> ActivationProbe:
    """The one probe for ``(model, preprocess)``, so that several widgets share a forward pass.

    The probe lives as long as something (a widget, a variable) holds it. ``input_shape`` (for
    subclassed models whose input size Keras cannot tell) is used when the probe is built.

    Examples
    --------
    >>> from convviz_widgets import zoo
    >>> model = zoo.load_model("shapes")
    >>> shared_probe(model) is shared_probe(model)
    True
    """
    if isinstance(model, ActivationProbe):
        return model
    return _SHARED.get(model, preprocess, input_shape=input_shape)
