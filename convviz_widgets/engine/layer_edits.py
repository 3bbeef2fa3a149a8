"""Temporary edits of a model's layers that only the editing thread sees.

The engine reaches inside a model by editing its layers while it traces a function: wrapping a
layer's ``call`` to record its output (the idea of Xplique's ``watch_layer``) or to stop there,
and running a layer with another activation (logits instead of the softmax, guided or deconvnet
ReLUs). This reaches layers inside nested models, where building a ``keras.Model`` on an inner
layer's output fails with "Graph disconnected", and works under ``tf.function`` and
``GradientTape``.

An edit made by assigning ``layer.call`` or ``layer.activation`` would be seen by every thread:
a user's ``model(x)`` in the notebook, while a background thread traces, would return logits
instead of probabilities or raise the engine's own exceptions. So an edit here is a
*thread-local* override: while any thread edits a layer, a small dispatcher stands in for the
layer's ``call``; it runs the overrides of the thread that is calling, and the layer's own
``call`` in every other thread. Another activation is applied by running the layer class's own
``call`` on a stand-in of the layer whose ``activation`` differs, so the layer's attributes are
never assigned (its ``activation``, its config, a ``model.save()`` all stay as they are). The
dispatcher is removed when the last edit of the layer ends, even when the block raises, and
the layer is left exactly as it was.

:func:`editing` is the one mechanism; :func:`capture_outputs`, :func:`logits_only`,
:func:`~convviz_widgets.engine.saliency.relu_backward_rule` and the feature-visualization
truncation are uses of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .layers import LayerInfo

CallWrapper = Callable[[Callable[..., Any]], Callable[..., Any]]
"""Given the call the layer would make (its own, or an earlier wrapper's), the call to make."""

_MISSING = object()
_INSTALL = threading.Lock()
_local = threading.local()


@dataclass(frozen=True)
class Edit:
    """One layer's edit: wrap its ``call``, replace its ``call``, or run it with another
    ``activation`` (a replacement of its call that changes only the activation).

    A replaced call stands in for the layer's own (the latest replacement wins); wrappers wrap
    whatever call the layer has in this thread, replacements included, so a watcher still sees
    the output of a swapped ReLU whichever edit came first.
    """

    layer: Any
    wrap_call: CallWrapper | None = None
    replace_call: Callable[..., Any] | None = None
    activation: Callable[[Any], Any] | None = None

    def replacement(self) -> Callable[..., Any] | None:
        """The call standing in for the layer's own, if this edit replaces it."""
        if self.activation is not None:
            return with_activation(self.layer, self.activation)
        return self.replace_call


class _WithActivation:
    """Stands in for a layer inside its class's ``call``: every attribute is the layer's own,
    but ``activation``."""

    def __init__(self, layer: Any, activation: Callable[[Any], Any]) -> None:
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "activation", activation)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_layer"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a layer run with another activation is read-only ({name!r}).")


def with_activation(layer: Any, activation: Callable[[Any], Any]) -> Callable[..., Any]:
    """The layer's own ``call`` computed with ``activation`` instead of its own, the layer
    itself untouched (Dense, Conv and Activation layers read ``self.activation`` in ``call``)."""
    own_call = type(layer).call
    stand_in = _WithActivation(layer, activation)

    def call(*args: Any, **kwargs: Any) -> Any:
        return own_call(stand_in, *args, **kwargs)

    return call


def _overrides() -> dict[tuple[int, str], list[Any]]:
    """This thread's overrides by (layer id, "wrap" or "replace"), oldest first."""
    found = getattr(_local, "overrides", None)
    if found is None:
        found = _local.overrides = {}
    return found


class _CallDispatcher:
    """Stands in for ``layer.call``: this thread's replacement (or the layer's own call),
    wrapped by this thread's wrappers."""

    def __init__(self, ident: int, own_call: Callable[..., Any]) -> None:
        self.ident = ident
        self.own_call = own_call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        overrides = _overrides()
        replacements = overrides.get((self.ident, "replace"))
        call = replacements[-1] if replacements else self.own_call
        for wrap in overrides.get((self.ident, "wrap"), ()):
            call = wrap(call)
        return call(*args, **kwargs)


@dataclass
class _Installed:
    layer: Any
    previous: Any  # the instance attribute found (``_MISSING`` for the class's own ``call``)
    users: int = 0


_INSTALLED: dict[int, _Installed] = {}


def _install(layer: Any) -> int:
    ident = id(layer)
    with _INSTALL:
        installed = _INSTALLED.get(ident)
        if installed is None:
            previous = vars(layer).get("call", _MISSING)
            dispatcher = _CallDispatcher(ident, layer.call)
            installed = _INSTALLED[ident] = _Installed(layer, previous)
            layer.call = dispatcher
        installed.users += 1
    return ident


def _uninstall(ident: int) -> None:
    with _INSTALL:
        installed = _INSTALLED[ident]
        installed.users -= 1
        if installed.users:
            return
        del _INSTALLED[ident]
        if installed.previous is _MISSING:
            # Dropping the instance attribute brings back the class's own ``call``.
            vars(installed.layer).pop("call", None)
        else:
            installed.layer.call = installed.previous


@contextmanager
def editing(edits: Iterable[Edit]) -> Iterator[int]:
    """Within the block, the calling thread sees ``edits``; every other thread sees the layers
    as they are. Yields how many layers were edited.

    Edits of one layer nest: a call wrapper added later wraps the earlier ones, a later
    replacement wins over an earlier one. Every edit is undone on exit, even when the block
    raises.

    Examples
    --------
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    >>> dense = model.layers[-1]
    >>> x = np.array([[1.0, -1.0]], "float32")
    >>> with editing([Edit(dense, activation=lambda logits: logits)]):
    ...     logits = model(x)
    >>> bool(np.allclose(keras.ops.softmax(logits), model(x)))
    True
    >>> dense.activation is keras.activations.softmax and "call" not in vars(dense)
    True
    """
    overrides = _overrides()
    undo: list[Callable[[], None]] = []
    edited = 0
    try:
        for edit in edits:
            edited += 1
            for kind, value in (("wrap", edit.wrap_call), ("replace", edit.replacement())):
                if value is None:
                    continue
                ident = _install(edit.layer)
                stack = overrides.setdefault((ident, kind), [])
                stack.append(value)
                undo.append(_popper(overrides, (ident, kind), stack))
        yield edited
    finally:
        for restore in reversed(undo):
            restore()


def _popper(overrides: dict[tuple[int, str], list[Any]], key: tuple[int, str],
            stack: list[Any]) -> Callable[[], None]:
    def restore() -> None:
        stack.pop()
        if not stack:
            overrides.pop(key, None)
        _uninstall(key[0])

    return restore


def is_edited(layer: Any) -> bool:
    """Whether some thread is editing ``layer`` right now."""
    with _INSTALL:
        return id(layer) in _INSTALLED


@contextmanager
def capture_outputs(layers: Sequence[LayerInfo]) -> Iterator[dict[str, Any]]:
    """Within the block, record each layer's latest output under its path (this thread only).

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
    with editing(Edit(info.layer, wrap_call=_recording(info.path, captured))
                 for info in layers):
        yield captured


def _recording(path: str, captured: dict[str, Any]) -> CallWrapper:
    def wrap(call: Callable[..., Any]) -> Callable[..., Any]:
        def recording_call(*args: Any, **kwargs: Any) -> Any:
            output = call(*args, **kwargs)
            captured[path] = output
            return output

        return recording_call

    return wrap


def logits_edit(layer: Any) -> Edit:
    """The edit that makes ``layer`` (a model's output layer) return its logits.

    Layers with an ``activation`` (Dense, Conv, Activation) skip it; a ``Softmax`` layer passes
    its input through.
    """
    if hasattr(layer, "activation"):
        return Edit(layer, activation=_identity)
    return Edit(layer, replace_call=_pass_through)


@contextmanager
def logits_only(layer: Any) -> Iterator[None]:
    """Within the block, ``layer`` (the output layer) returns logits in this thread.

    Used while tracing a gradient function so that class scores are taken on the logits, as
    Grad-CAM recommends (the squashing is applied to the result where probabilities are needed).
    """
    with editing([logits_edit(layer)]):
        yield


def _identity(x: Any) -> Any:
    return x


def _pass_through(inputs: Any, *args: Any, **kwargs: Any) -> Any:
    return inputs
