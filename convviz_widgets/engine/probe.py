"""ActivationProbe: every layer's output from one forward pass, built lazily and cached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from .cache import ByteLRU, PerModel
from .capture import capture_outputs
from .gradients import LayerGradients
from .images import ImageInput, ImageSource, prepare_image
from .layers import LayerInfo, discover_layers, resolve_layer
from .model_spec import InputSpec, check_model
from .render import ChannelStats

if TYPE_CHECKING:
    from .cam import CAMResult

Preprocess = Callable[[np.ndarray], Any]


@dataclass(frozen=True)
class ActivationRecord:
    """What one forward pass produced for one image.

    Attributes
    ----------
    image : ImageInput
        The prepared image.
    outputs : dict of str to numpy.ndarray
        Every captured layer's output for this image, batch axis removed, keyed by layer path.
    prediction : numpy.ndarray
        The model's output for this image, batch axis removed.
    """

    image: ImageInput
    outputs: dict[str, np.ndarray]
    prediction: np.ndarray
    stats: dict[str, ChannelStats] = field(default_factory=dict, repr=False)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays of this record."""
        return self.prediction.nbytes + sum(a.nbytes for a in self.outputs.values())


class ActivationProbe:
    """Serve every layer's activations for an image from one forward pass.

    The extractor (a ``tf.function`` that runs the model once and returns every layer's output,
    nested models included) is built on first use. Results are cached in a least-recently-used
    cache bounded by bytes and keyed by the image's content, so looking at another layer, page,
    colormap or normalization of an image never runs the network again.

    Parameters
    ----------
    model : keras.Model
        Sequential, functional or nested Keras 3 model taking ``(batch, H, W, C)`` images. It is
        never modified: layers are watched only while the extractor is traced.
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
        self._cache: ByteLRU[ActivationRecord] = ByteLRU(cache_bytes)
        self._extractor: Any = None
        self._gradients: LayerGradients | None = None
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

    def layer(self, key: LayerInfo | str | int) -> LayerInfo:
        """Find a layer by path (``"vgg16/block1_conv1"``), unique name or index."""
        return resolve_layer(self.layers, key)

    def prepare(self, image: ImageSource | ImageInput) -> ImageInput:
        """Check and resize ``image`` for this model (see :func:`prepare_image`)."""
        if isinstance(image, ImageInput):
            return image
        spec = self.input_spec
        return prepare_image(image, size=(spec.height, spec.width), channels=spec.channels)

    def run(self, image: ImageSource | ImageInput) -> ActivationRecord:
        """All layer outputs for ``image``: from the cache, or from one forward pass."""
        prepared = self.prepare(image)
        record = self._cache.get(prepared.key)
        if record is None:
            record = self._forward(prepared)
            self._cache.put(prepared.key, record, record.nbytes)
        return record

    def outputs(self, image: ImageSource | ImageInput, layer: LayerInfo | str | int) -> np.ndarray:
        """The output of any layer for ``image``, batch axis removed."""
        info = self.layer(layer)
        return self.run(image).outputs[info.path]

    def activations(
        self, image: ImageSource | ImageInput, layer: LayerInfo | str | int
    ) -> np.ndarray:
        """Feature maps ``(H, W, C)`` float32 of a conv, pool or other spatial layer.

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
        return self.run(image).outputs[info.path]

    def channel_stats(
        self, image: ImageSource | ImageInput, layer: LayerInfo | str | int
    ) -> ChannelStats:
        """Per-channel min, max and mean of a spatial layer (computed once per image and layer)."""
        maps = self.activations(image, layer)
        record = self.run(image)
        path = self.layer(layer).path
        if path not in record.stats:
            record.stats[path] = ChannelStats.of(maps)
        return record.stats[path]

    def predict(self, image: ImageSource | ImageInput) -> np.ndarray:
        """The model's output for ``image`` (from the same cached forward pass)."""
        return self.run(image).prediction

    @property
    def gradients(self) -> LayerGradients:
        """Gradients of class scores for every conv layer, built on first use and shared."""
        if self._gradients is None:
            self._gradients = LayerGradients(self)
        return self._gradients

    def cam(self, image: ImageSource | ImageInput, layer: LayerInfo | str | int,
            target: Any = None, method: str = "gradcam") -> CAMResult:
        """A class activation map of ``layer`` for ``target`` (default: the predicted class).

        Every conv layer's map comes from the same forward and backward pass; see
        :mod:`convviz_widgets.engine.cam` for the methods.

        Examples
        --------
        >>> from convviz_widgets import zoo
        >>> probe = ActivationProbe(zoo.load_model("shapes"))
        >>> result = probe.cam(zoo.load_image("star"), "block4_conv2", target=3)
        >>> result.map.shape, result.upsampled.shape
        ((16, 16), (64, 64))
        """
        from .cam import compute_cam

        return compute_cam(self.gradients, image, self.layer(layer).path, target, method)

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
                prediction = model(batch, training=False)
            return prediction, {k: v for k, v in captured.items() if tf.is_tensor(v)}

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

    def _forward(self, image: ImageInput) -> ActivationRecord:
        if self._extractor is None:
            self._extractor = self._build_extractor()
        prediction, captured = self._extractor(self.model_input(image))
        self.forward_passes += 1
        outputs = {path: np.asarray(t)[0] for path, t in captured.items()}
        if not self._shapes_known:
            self._layers = [
                replace(info, output_shape=outputs[info.path].shape)
                if info.output_shape is None and info.path in outputs else info
                for info in self._layers
            ]
            self._shapes_known = True
        return ActivationRecord(image=image, outputs=outputs, prediction=np.asarray(prediction)[0])

    def _learn_shapes(self) -> None:
        if self._extractor is None:
            self._extractor = self._build_extractor()
        concrete = self._extractor.get_concrete_function()
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


_SHARED: PerModel[ActivationProbe] = PerModel(ActivationProbe)


def shared_probe(model: Any, preprocess: Preprocess | None = None) -> ActivationProbe:
    """The one probe for ``(model, preprocess)``, so that several widgets share a forward pass.

    The probe lives as long as something (a widget, a variable) holds it.

    Examples
    --------
    >>> from convviz_widgets import zoo
    >>> model = zoo.load_model("shapes")
    >>> shared_probe(model) is shared_probe(model)
    True
    """
    return _SHARED.get(model, preprocess)
