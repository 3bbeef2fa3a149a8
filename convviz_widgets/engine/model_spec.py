"""Check that a model is one we can look inside, and read its input size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras


@dataclass(frozen=True)
class InputSpec:
    """Image input of a model: ``height`` and ``width`` may be ``None`` (any size)."""

    height: int | None
    width: int | None
    channels: int


def _input_shape(model: Any, input_shape: tuple[int | None, ...] | None) -> tuple:
    if input_shape is not None:
        return (None, *tuple(input_shape))
    inputs = getattr(model, "inputs", None)
    if inputs:
        if len(inputs) != 1:
            raise ValueError(
                f"the model has {len(inputs)} inputs; convviz_widgets explains single-image "
                "models, so wrap the image branch in a model of its own."
            )
        return tuple(inputs[0].shape)
    if not model.built:
        raise ValueError(
            "the model is not built yet; call it once on a batch of images, or pass "
            "input_shape=(height, width, channels)."
        )
    raise ValueError(
        "cannot tell this subclassed model's input size; pass input_shape=(height, width, "
        "channels)."
    )


def check_model(model: Any, input_shape: tuple[int | None, ...] | None = None) -> InputSpec:
    """Validate ``model`` and return its image input spec.

    Raises
    ------
    ValueError
        When the model is not a Keras 3 model, has several inputs, does not take images
        ``(batch, height, width, channels)``, or is laid out channels-first. Several outputs
        are fine: explanations ask which one (``output=``).
    """
    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        raise ValueError(
            f"expected a Keras 3 model (keras.Model), got {kind}; load it with "
            "keras.saving.load_model(...) or build it with keras.Sequential / keras.Model."
        )
    channels_first = [layer.name for layer in _leaf_layers(model)
                      if getattr(layer, "data_format", None) == "channels_first"]
    if channels_first:
        raise ValueError(
            f"the model is laid out channels-first (layer {channels_first[0]!r}); rebuild it "
            "with data_format='channels_last' (TensorFlow runs channels-first convolutions on "
            "GPUs only)."
        )
    shape = _input_shape(model, input_shape)
    if len(shape) != 4:
        raise ValueError(
            f"the model takes inputs of shape {shape[1:]}, not images (height, width, channels); "
            "convviz_widgets needs a 2-D convolutional model."
        )
    _, height, width, channels = shape
    if channels is None:
        raise ValueError("the model's input has an unknown number of channels; pass input_shape=.")
    if channels not in (1, 3) and height in (1, 3):
        raise ValueError(
            f"the model input {shape[1:]} looks channels-first; rebuild it with "
            "data_format='channels_last' (TensorFlow runs channels-first convs on GPU only)."
        )
    return InputSpec(height=height, width=width, channels=int(channels))


def _leaf_layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", []):
        found.extend(_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return found


def smallest_input_size(model: Any, spec: InputSpec, limit: int = 4096) -> int | None:
    """The smallest square side a model with a free input size can take, or None if unknown.

    Found by shape inference alone (no computation): a size is accepted when Keras can infer
    the model's output shape for it.
    """

    def accepts(side: int) -> bool:
        height = spec.height or side
        width = spec.width or side
        try:
            spec_out = model.compute_output_spec(
                keras.KerasTensor((1, height, width, spec.channels)))
        except Exception:  # any failure of shape inference means "too small" here
            return False
        outputs = spec_out if isinstance(spec_out, (list, tuple)) else [spec_out]
        return all(all(d is None or d > 0 for d in o.shape) for o in outputs)

    if not accepts(limit):
        return None
    low, high = 1, limit
    while low < high:
        middle = (low + high) // 2
        if accepts(middle):
            high = middle
        else:
            low = middle + 1
    return low


def too_small_message(model: Any, spec: InputSpec, shape: tuple[int, ...],
                      side: int | None = None) -> str | None:
    """The sentence for an image the model cannot take because it is too small, or None when
    that is not the reason (the model's input size is fixed, or the image is large enough).

    ``side``: the model's :func:`smallest_input_size`, when already known.
    """
    if spec.height is not None and spec.width is not None:
        return None
    if side is None:
        side = smallest_input_size(model, spec)
    height, width = shape[:2]
    if side is None or min(height, width) >= side:
        return None
    return (f"the image is {height}×{width} pixels, too small for this model, which needs at "
            f"least {side}×{side}; use a larger image.")
