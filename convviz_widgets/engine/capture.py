"""Capture every layer's output during one call of a model, by wrapping the layers' ``call``.

This reaches layers inside nested models (where building a ``keras.Model`` on an inner layer's
output fails with "Graph disconnected") and works under ``tf.function`` and ``GradientTape``.
The idea follows Xplique's ``watch_layer``. Wrappers are instance attributes shadowing the class
method and are always removed on exit, even when the call raises.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .layers import LayerInfo


@contextmanager
def capture_outputs(layers: Sequence[LayerInfo]) -> Iterator[dict[str, Any]]:
    """Within the block, record each layer's latest output under its path.

    Parameters
    ----------
    layers : sequence of LayerInfo
        The layers to watch.

    Yields
    ------
    dict
        Filled with ``path -> output tensor`` as the model runs.
    """
    captured: dict[str, Any] = {}
    wrapped: list[Any] = []
    try:
        for info in layers:
            layer = info.layer
            if "call" in vars(layer):
                raise RuntimeError(f"layer {info.path!r} is already being captured.")
            layer.call = _recording(layer.call, info.path, captured)
            wrapped.append(layer)
        yield captured
    finally:
        for layer in wrapped:
            # Dropping the instance attribute restores the class's own ``call``.
            vars(layer).pop("call", None)


def _recording(call: Any, path: str, captured: dict[str, Any]) -> Any:
    def recording_call(*args: Any, **kwargs: Any) -> Any:
        output = call(*args, **kwargs)
        captured[path] = output
        return output

    return recording_call


@contextmanager
def linear_activation(layer: Any) -> Iterator[Any]:
    """Within the block, ``layer`` skips its built-in activation (softmax, sigmoid, …).

    Used while tracing a gradient function so that class scores are taken on the logits, as
    Grad-CAM recommends, without editing the user's model: the activation is restored on exit,
    even when the call raises.
    """
    original = layer.activation
    layer.activation = _identity
    try:
        yield original
    finally:
        layer.activation = original


def _identity(x: Any) -> Any:
    return x
