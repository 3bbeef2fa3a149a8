"""What to explain: a class (on its logit or probability), a side of a sigmoid unit, a channel.

Targets say *what* is explained; the methods in :mod:`convviz_widgets.engine.cam` say *how*.
:func:`resolve_target` turns what users pass (an index, ``"positive"``, None) into a target and
refuses, with one sentence, what does not name an output of the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from .heads import OutputHead


@dataclass(frozen=True)
class ClassTarget:
    """Explain class ``index``, scored on its logit (default) or its probability."""

    index: int
    on: str = "logit"

    def __post_init__(self) -> None:
        if self.on not in ("logit", "probability"):
            raise ValueError(f"a class is scored on 'logit' or 'probability', not {self.on!r}.")


@dataclass(frozen=True)
class BinaryTarget:
    """For a single-unit sigmoid model: evidence for the positive class, or for the negative."""

    positive: bool = True
    on: str = "logit"


@dataclass(frozen=True)
class ChannelTarget:
    """Explain what drives a channel of a layer: its mean activation (the score of seed S2's
    filter visualization), e.g. ``ChannelTarget("block4_conv2", 12)``.

    Conv layers before ``layer`` get gradients; those after it get zero maps.
    """

    layer: str
    index: int

    @property
    def on(self) -> str:
        """Targets of one kind run together: channels of one layer."""
        return f"channel:{self.layer}"


Target = ClassTarget | BinaryTarget | ChannelTarget


def _describe_choices(head: OutputHead) -> str:
    if head.binary:
        return "'positive' or 'negative' (this model has a single sigmoid unit)"
    return f"a class index from 0 to {head.units - 1}"


def resolve_target(target: Any, head: OutputHead, prediction: np.ndarray | None = None
                   ) -> Target:
    """A checked :data:`Target` for what the user gave.

    Parameters
    ----------
    target : Target, int, str or None
        A target object; a class index; ``"positive"``/``"negative"`` for a single unit (a
        class index is refused there: whether 1 means the positive class is ambiguous); or None
        for the predicted class (the positive side of a single unit).
    head : OutputHead
        The output being explained.
    prediction : numpy.ndarray, optional
        The model's output for the image, needed when ``target`` is None.

    Raises
    ------
    ValueError
        When the target does not name an output of this head: out of range, negative, of the
        wrong type, or a class index for a single-unit model.

    Examples
    --------
    >>> from convviz_widgets.engine.heads import OutputHead
    >>> head = OutputHead(0, "predictions", None, "softmax", 3)
    >>> resolve_target(2, head), resolve_target(None, head, np.array([0.1, 0.7, 0.2])).index
    (ClassTarget(index=2, on='logit'), 1)
    >>> resolve_target(7, head)
    Traceback (most recent call last):
    ...
    ValueError: class index 7 is out of range: the model has 3 classes (0 to 2).
    """
    if isinstance(target, ChannelTarget):
        return target
    if isinstance(target, BinaryTarget):
        if not head.binary:
            raise ValueError(f"a positive/negative target needs a single-unit model; this output "
                             f"has {head.units} classes, so give {_describe_choices(head)}.")
        return target
    if isinstance(target, ClassTarget):
        _check_class(target.index, head)
        return target
    if target is None:
        if head.binary:
            return BinaryTarget(positive=True)
        if prediction is None:
            raise ValueError("give a target class index (or an image to take its top class).")
        return ClassTarget(int(np.argmax(np.asarray(prediction).ravel())))
    if isinstance(target, str):
        if target in ("positive", "negative") and head.binary:
            return BinaryTarget(positive=target == "positive")
        raise ValueError(f"cannot explain {target!r}: give {_describe_choices(head)}.")
    if isinstance(target, Integral) and not isinstance(target, bool):
        _check_class(int(target), head)
        return ClassTarget(int(target))
    raise ValueError(f"cannot explain a {type(target).__name__} ({target!r}): give "
                     f"{_describe_choices(head)}.")


def _check_class(index: int, head: OutputHead) -> None:
    if head.binary and head.squashing == "sigmoid":
        raise ValueError("this model has a single sigmoid unit; explain 'positive' or "
                         "'negative' (BinaryTarget) instead of a class index.")
    if not 0 <= index < head.units:
        raise ValueError(f"class index {index} is out of range: the model has {head.units} "
                         f"classes (0 to {head.units - 1}).")


def target_weights(targets: Sequence[Target], head: OutputHead) -> np.ndarray:
    """A ``(len(targets), units)`` matrix: row ``i`` picks target ``i``'s score from the logits."""
    weights = np.zeros((len(targets), head.units), np.float32)
    for row, target in enumerate(targets):
        if isinstance(target, ChannelTarget):
            raise ValueError(f"{target} is scored on a layer, not on the model's output; explain "
                             "it with a CAM (probe.cam), or give a class.")
        if isinstance(target, BinaryTarget):
            resolve_target(target, head)
            weights[row, 0] = 1.0 if target.positive else -1.0
        else:
            _check_class(target.index, head)
            weights[row, target.index] = 1.0
    return weights
