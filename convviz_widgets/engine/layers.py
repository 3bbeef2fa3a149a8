"""Layer discovery with stable path names through nested Keras models."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

_KINDS: dict[str, tuple[str, ...]] = {
    "conv": (
        "Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
        "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    ),
    "pool": (
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
        "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    ),
    "activation": ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"),
    "normalization": (
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    ),
    "dense": ("Dense", "EinsumDense"),
    "reshape": ("Flatten", "Reshape", "Permute", "RepeatVector", "Cropping2D", "ZeroPadding2D"),
    "regularization": (
        "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "ActivityRegularization",
    ),
    "preprocessing": (
        "Rescaling", "Normalization", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation",
        "RandomZoom", "RandomTranslation", "RandomContrast", "RandomCrop",
    ),
    "merge": ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"),
}
_KIND_OF_CLASS = {cls: kind for kind, classes in _KINDS.items() for cls in classes}


@dataclass(frozen=True)
class LayerInfo:
    """One layer of a (possibly nested) model, addressed by its path.

    Attributes
    ----------
    path : str
        Stable address: the layer's name, prefixed by the names of the models that contain it,
        e.g. ``"vgg16/block5_conv3"`` for a VGG16 base inside a Sequential.
    kind : str
        ``"conv"``, ``"pool"``, ``"activation"``, ``"normalization"``, ``"dense"``,
        ``"reshape"``, ``"regularization"``, ``"preprocessing"``, ``"merge"`` or ``"other"``.
    output_shape : tuple of int or None, or None
        Output shape without the batch axis, when known.
    layer : keras.layers.Layer
        The layer object itself.
    """

    path: str
    kind: str
    output_shape: tuple[int | None, ...] | None
    layer: Any = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        """The layer's own name (the last part of its path)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def class_name(self) -> str:
        """The Keras class of the layer, e.g. ``"Conv2D"``."""
        return type(self.layer).__name__

    @property
    def is_spatial(self) -> bool:
        """Whether the layer outputs a grid of feature maps ``(height, width, channels)``."""
        return self.output_shape is not None and len(self.output_shape) == 3

    @property
    def channels(self) -> int | None:
        """Number of channels (last axis) of the output, when known."""
        return self.output_shape[-1] if self.output_shape else None

    def describe(self) -> str:
        """One line for a selector: ``"block1_conv1 (conv) 64×64×16"``."""
        shape = "×".join("?" if d is None else str(d) for d in self.output_shape or ())
        return f"{self.path} ({self.kind}) {shape}".rstrip()


def layer_kind(layer: Any) -> str:
    """Classify a layer by its Keras class (or the closest known base class)."""
    for cls in type(layer).__mro__:
        kind = _KIND_OF_CLASS.get(cls.__name__)
        if kind:
            return kind
    return "other"


def _static_output_shape(layer: Any) -> tuple[int | None, ...] | None:
    try:
        output = layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None  # not called yet, called several times, or a subclassed model's layer
    shape = getattr(output, "shape", None)
    if shape is None or len(shape) == 0:
        return None
    return tuple(None if d is None else int(d) for d in shape[1:])


def _walk(model: Any, prefix: str) -> Iterator[LayerInfo]:
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            yield from _walk(layer, f"{prefix}{layer.name}/")
            continue
        yield LayerInfo(
            path=f"{prefix}{layer.name}",
            kind=layer_kind(layer),
            output_shape=_static_output_shape(layer),
            layer=layer,
        )


def discover_layers(model: Any) -> list[LayerInfo]:
    """List the leaf layers of ``model`` in call order, descending into nested models.

    Parameters
    ----------
    model : keras.Model
        A Sequential, functional or subclassed Keras 3 model; nested models (a
        ``keras.applications.VGG16`` base inside a Sequential) are expanded.

    Returns
    -------
    list of LayerInfo
        Leaf layers (input layers excluded), each with a unique path.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="c")])
    >>> [info.path for info in discover_layers(model)]
    ['c']
    """
    return list(_walk(model, ""))


def check_channel(channel: int, layer: str, channels: int) -> int:
    """``channel`` as an int when ``layer`` (with ``channels`` channels) has it; otherwise a
    ValueError in one sentence.

    Examples
    --------
    >>> check_channel(3, "conv", 4)
    3
    >>> check_channel(4, "conv", 4)
    Traceback (most recent call last):
    ...
    ValueError: channel 4 is out of range: 'conv' has 4 channels (0 to 3).
    """
    if not 0 <= channel < channels:
        raise ValueError(f"channel {channel} is out of range: {layer!r} has {channels} channels "
                         f"(0 to {channels - 1}).")
    return int(channel)


def resolve_layer(layers: Sequence[LayerInfo], key: LayerInfo | str | int) -> LayerInfo:
    """Find a layer by ``LayerInfo``, path, unique name or index; raise a helpful ``ValueError``."""
    if isinstance(key, LayerInfo):
        key = key.path
    if isinstance(key, int) and not isinstance(key, bool):
        if -len(layers) <= key < len(layers):
            return layers[key]
        raise ValueError(f"layer index {key} is out of range: the model has {len(layers)} layers.")
    if not isinstance(key, str):
        raise ValueError(f"a layer is given by its path, name or index, not {type(key).__name__}.")
    for info in layers:
        if info.path == key:
            return info
    named = [info for info in layers if info.name == key]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        choices = ", ".join(repr(info.path) for info in named)
        raise ValueError(f"layer name {key!r} is ambiguous; use its full path: one of {choices}.")
    paths = [info.path for info in layers]
    close = difflib.get_close_matches(key, paths, n=3, cutoff=0.5)
    if close:
        raise ValueError(f"the model has no layer {key!r}; did you mean "
                         f"{' or '.join(map(repr, close))}?")
    shown = ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")
    raise ValueError(f"the model has no layer {key!r}; its layers are {shown}.")
