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
        When the model is not a Keras 3 model, has several inputs or outputs, does not take
        images ``(batch, height, width, channels)``, or is laid out channels-first.
    """
    if not isinstance(model, keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        raise ValueError(
            f"expected a Keras 3 model (keras.Model), got {kind}; load it with "
            "keras.saving.load_model(...) or build it with keras.Sequential / keras.Model."
        )
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) > 1:
        raise ValueError(
            f"the model has {len(outputs)} outputs; convviz_widgets explains one: pass "
            "keras.Model(model.inputs, model.outputs[i]) with the output i you want."
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
