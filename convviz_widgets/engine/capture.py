"""Capture every layer's output during one call of a model, by wrapping the layers' ``call``.

This reaches layers inside nested models (where building a ``keras.Model`` on an inner layer's
output fails with "Graph disconnected") and works under ``tf.function`` and ``GradientTape``.
The idea follows Xplique's ``watch_layer``. Wrappers are instance attributes shadowing the class
method and are always removed on exit, even when the call raises.

Every context manager that edits layers (here, and the ReLU swaps, the deconvnet watcher and
the featvis truncation) holds one process-wide lock, :data:`LAYER_EDITS`, while its edits are in
place: functions are traced inside these blocks, so two threads tracing on the same model (a
FilterGallery run next to a LayerBrowser) take turns instead of tripping over each other's
wrappers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from .layers import LayerInfo

LAYER_EDITS = threading.RLock()
"""Held while layers are temporarily edited (wrapped ``call``, swapped activation)."""

_T = TypeVar("_T")


def serialized(generator: Callable[..., Iterator[_T]]) -> Callable[..., Iterator[_T]]:
    """Make a generator-based context manager hold :data:`LAYER_EDITS` for its whole block.

    Apply it under ``@contextmanager``; exceptions raised in the block reach the generator (its
    ``finally`` restores the layers) before the lock is released.
    """

    @functools.wraps(generator)
    def holding_the_lock(*args: Any, **kwargs: Any) -> Iterator[_T]:
        with LAYER_EDITS:
            yield from generator(*args, **kwargs)

    return holding_the_lock


@contextmanager
@serialized
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
@serialized
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
