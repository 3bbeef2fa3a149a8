"""A model's outputs ("heads"): which layer computes each, and how its values relate to logits.

Explanations are taken on a class's logit (or its probability on request), so the engine needs,
for the output being explained, the layer whose activation squashes logits into the output
(softmax, sigmoid, or none for a model that outputs logits), the number of units, and a name to
address it by. Feature maps and filters do not depend on the head: only explanations do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .layers import LayerInfo

_SQUASHING = {"softmax": "softmax", "sigmoid": "sigmoid"}


@dataclass(frozen=True)
class OutputHead:
    """One output of a model.

    Attributes
    ----------
    index : int
        Position among the model's outputs.
    name : str
        The output's name (its layer's name for functional models).
    layer : keras.layers.Layer
        The leaf layer that computes the output.
    squashing : str or None
        ``"softmax"``, ``"sigmoid"`` or None (the output is already a logit or a score).
    units : int
        Size of the output's last axis.
    """

    index: int
    name: str
    layer: Any
    squashing: str | None
    units: int

    @property
    def binary(self) -> bool:
        """A single unit, read as the probability (or logit) of a positive class."""
        return self.units == 1

    @property
    def value_kind(self) -> str:
        """What :meth:`probabilities` returns: ``"probability"`` when the model squashes its
        output itself, else ``"softmax of logits"`` (``"sigmoid of logit"`` for one unit)."""
        if self.squashing is not None:
            return "probability"
        return "sigmoid of logit" if self.binary else "softmax of logits"

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        """Class probabilities from this output's values (a copy, float64).

        The model's own probabilities when it ends in a softmax or sigmoid; for a model that
        outputs logits, their softmax (their sigmoid for a single unit), so that bars and
        status lines never show logits as percentages.
        """
        values = np.asarray(output, np.float64).ravel()
        if self.squashing is not None:
            return values.copy()
        if self.binary:
            return 1.0 / (1.0 + np.exp(-values))
        shifted = np.exp(values - values.max())
        return shifted / shifted.sum()


def _squashing_of(layer: Any) -> str | None:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return _SQUASHING.get(getattr(activation, "__name__", "") or "")


def _last_leaf(model: Any) -> Any:
    layer = model.layers[-1]
    return _last_leaf(layer) if isinstance(layer, keras.Model) else layer


def _output_layer(model: Any, index: int) -> Any:
    names = getattr(model, "output_names", None)
    if names and not isinstance(model, keras.Sequential):
        try:
            layer = model.get_layer(names[index])
        except ValueError:
            layer = None
        if isinstance(layer, keras.Model):
            return _output_layer(layer, 0)
        if layer is not None:
            return layer
    return _last_leaf(model)


def output_heads(model: Any, layers: Sequence[LayerInfo]) -> list[OutputHead]:
    """Every output of ``model``, in order (one for Sequential and subclassed models).

    Examples
    --------
    >>> import keras
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, [keras.layers.Dense(3, activation="softmax", name="cls")(
    ...     inputs), keras.layers.Dense(2, name="box")(inputs)])
    >>> [(h.name, h.squashing, h.units) for h in output_heads(model, [])]
    [('cls', 'softmax', 3), ('box', None, 2)]
    """
    outputs = list(getattr(model, "outputs", None) or [])
    names = list(getattr(model, "output_names", None) or [])
    if not outputs:  # a subclassed model: its last leaf layer computes the output
        last = layers[-1].layer if layers else _last_leaf(model)
        units = _units_of(last)
        return [OutputHead(0, last.name, last, _squashing_of(last), units)]
    heads = []
    for index, tensor in enumerate(outputs):
        layer = _output_layer(model, index)
        name = names[index] if index < len(names) else layer.name
        units = int(tensor.shape[-1]) if tensor.shape and tensor.shape[-1] else 0
        heads.append(OutputHead(index, name, layer, _squashing_of(layer), units))
    return heads


def _units_of(layer: Any) -> int:
    units = getattr(layer, "units", None)
    return int(units) if units else 0


def select_head(heads: Sequence[OutputHead], output: int | str | None) -> OutputHead:
    """The head named or numbered by ``output``; None is fine only for a one-output model.

    Raises
    ------
    ValueError
        Naming the choices when the model has several outputs and none (or an unknown one) was
        given.
    """
    choices = ", ".join(f"{h.index} ({h.name!r})" for h in heads)
    if output is None:
        if len(heads) == 1:
            return heads[0]
        raise ValueError(f"the model has {len(heads)} outputs; pass output= one of {choices} "
                         "to say which one to explain.")
    for head in heads:
        if output == head.index or output == head.name:
            return head
    raise ValueError(f"the model has no output {output!r}; pass output= one of {choices}.")
