"""Run a model only up to the layers an objective reads, and optionally in bfloat16.

Truncation by early exit: within the forward function the target layers' ``call`` is wrapped
(with :func:`~convviz_widgets.engine.layer_edits.editing`, seen by the tracing thread only) to
record its output and, once every target has produced one, raise :class:`TargetReached`, which
the forward function catches.
Layers after the target are never called, in Sequential, functional, nested (a conv inside an
inner model inside a Sequential) and subclassed models alike, with no graph surgery and no
"Graph disconnected". The alternative, a sub-model cut from the functional graph, needs one
extractor per nesting level and does not exist for subclassed models. Layers of parallel
branches that Keras happens to call before the target do run while tracing, but their outputs
feed nothing, so ``tf.function`` prunes them from the compiled graph. A layer used twice (shared
weights) is cut at its first call. Wrappers are removed on exit, even when the call raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from ..layer_edits import CallWrapper, Edit, editing
from ..layers import LayerInfo, discover_layers

Forward = Callable[[Any], dict[str, Any]]


class TargetReached(Exception):
    """Raised inside the model once every target layer has produced its output.

    Keras re-raises an exception from a layer's ``call`` as a new instance of the same class
    with the call's arguments added to the message, so this class must accept a message (it
    does, as a plain ``Exception``) for ``except TargetReached`` to still catch it.
    """


@contextmanager
def stop_after(targets: Mapping[str, LayerInfo]) -> Iterator[dict[str, Any]]:
    """Within the block, targets record their outputs (keyed like ``targets``); the last one
    to run raises :class:`TargetReached` (in this thread only: see :mod:`..layer_edits`)."""
    captured: dict[str, Any] = {}
    keys_of: dict[int, list[str]] = {}
    layers: dict[int, Any] = {}
    for key, info in targets.items():
        keys_of.setdefault(id(info.layer), []).append(key)
        layers[id(info.layer)] = info.layer
    edits = [Edit(layer, wrap_call=_stopping(keys_of[ident], captured, len(targets)))
             for ident, layer in layers.items()]
    with editing(edits):
        yield captured


def _stopping(keys: list[str], captured: dict[str, Any], total: int) -> CallWrapper:
    def wrap(call: Any) -> Any:
        def stopping_call(*args: Any, **kwargs: Any) -> Any:
            output = call(*args, **kwargs)
            for key in keys:
                captured.setdefault(key, output)
            if len(captured) == total:
                raise TargetReached
            return output

        return stopping_call

    return wrap


def truncated_forward(model: Any, targets: Mapping[str, LayerInfo],
                      preprocess: Callable[[Any], Any] | None = None) -> Forward:
    """A function ``images -> {key: output}`` that runs ``model`` only until ``targets`` ran.

    ``preprocess`` is applied to the images first; inside a compiled step it receives tensors
    (``keras.applications`` ``preprocess_input`` functions accept them).
    """

    def forward(images: Any) -> dict[str, Any]:
        inputs = preprocess(images) if preprocess is not None else images
        with stop_after(targets) as captured, suppress(TargetReached):
            model(inputs, training=False)
        missing = [key for key in targets if key not in captured]
        if missing:
            raise ValueError(f"layers {missing} were never called by the model; choose layers "
                             "on the path from its input to its output.")
        return captured

    return forward


def bfloat16_clone(model: Any) -> Any:
    """A copy of ``model`` computing in bfloat16 (``"mixed_bfloat16"``: float32 weights).

    Experimental. Every layer of the copy, nested models included, is rebuilt from its config
    with the mixed policy; the global Keras policy is never touched and the user's model is left
    as it is. Only Sequential and functional models can be cloned this way.
    """
    import keras

    def clone_layer(layer: Any) -> Any:
        config = layer.get_config()
        config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    try:
        clone = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)
    except (ValueError, TypeError, NotImplementedError) as error:
        raise ValueError(
            f"cannot build a bfloat16 copy of this model ({error}); use dtype='float32' with "
            "subclassed models."
        ) from error
    clone.set_weights(model.get_weights())
    return clone


def layers_by_path(model: Any) -> dict[str, LayerInfo]:
    """Every leaf layer of ``model`` by path (paths of a clone equal the original's)."""
    return {info.path: info for info in discover_layers(model)}
