"""Objectives: what activation maximization makes large, composable with ``+``, ``-`` and ``*``.

As in lucid's ``optvis.objectives`` (Olah, Mordvintsev & Schubert, 2017, "Feature
Visualization", Distill), an objective is a value per image of the batch, so one batch can
optimize a different target in each image: ``channels("block3_conv1", range(16))`` makes image
``i`` maximize filter ``i``.

Every objective here is a weighted sum of *terms*; a term reduces one layer's activations to one
number per channel (the spatial mean, or the centre unit) and picks one channel per image. The
channel indices and weights are data, passed to the compiled step function as tensors, so
moving to the next page of filters reuses the same compiled function instead of tracing anew.
A new kind of objective that fits this shape is a new entry in :data:`REDUCTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf


def _spatial_mean(activations: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(activations, axis=tuple(range(1, activations.shape.rank - 1)))


def _center(activations: tf.Tensor) -> tf.Tensor:
    # The unit at the middle of the map (row and column floor(size / 2)), as lucid's ``neuron``.
    for _ in range(activations.shape.rank - 2):
        activations = tf.gather(activations, tf.shape(activations)[1] // 2, axis=1)
    return activations


#: How a term turns activations ``(N, ..., C)`` into one value per channel ``(N, C)``.
REDUCTIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "mean": _spatial_mean,
    "center": _center,
}


@dataclass(frozen=True)
class Term:
    """``coefficient × reduction(layer)[channel]``; one channel for all images, or one each."""

    layer: str
    reduction: str
    channels: tuple[int, ...]
    coefficients: tuple[float, ...]

    def __str__(self) -> str:
        kind = {"mean": "channel", "center": "neuron"}[self.reduction]
        index = self.channels[0] if len(self.channels) == 1 else list(self.channels)
        plural = "" if len(self.channels) == 1 else "s"
        coef = self.coefficients[0]
        prefix = "" if len(set(self.coefficients)) == 1 and coef == 1.0 else f"{coef:g} * "
        return f"{prefix}{kind}{plural}({self.layer!r}, {index})"


class Objective:
    """A value per image to maximize: a weighted sum of channel terms.

    Build objectives with :func:`channel`, :func:`channels`, :func:`neuron`, :func:`neurons`,
    and combine them: ``channel("c", 0) - 0.5 * channel("c", 1)``.

    Examples
    --------
    >>> objective = channel("conv", 0) + 2 * neuron("conv", 1)
    >>> str(objective)
    "channel('conv', 0) + 2 * neuron('conv', 1)"
    >>> objective.layers, objective.batch
    (('conv',), None)
    """

    def __init__(self, terms: Sequence[Term]) -> None:
        self.terms = tuple(terms)
        sizes = {len(t.channels) for t in self.terms if len(t.channels) > 1}
        if len(sizes) > 1:
            raise ValueError(
                f"batched terms target {sorted(sizes)} images; combine only per-image "
                "objectives with the same number of images."
            )
        self.batch: int | None = sizes.pop() if sizes else None

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers the objective reads, each once, in order of appearance."""
        return tuple(dict.fromkeys(t.layer for t in self.terms))

    def batch_size(self, default: int = 1) -> int:
        """Images the objective needs: its batched terms' length, else ``default``."""
        return self.batch if self.batch is not None else default

    def structure(self, paths: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
        """The ``(layer path, reduction)`` of each term: what a compiled step function depends on.

        ``paths`` maps the layer names used in the terms to full paths.
        """
        paths = paths or {}
        return tuple((paths.get(t.layer, t.layer), t.reduction) for t in self.terms)

    def data(self, batch: int) -> list[np.ndarray]:
        """Per term, the channel index and the coefficient of each of ``batch`` images."""
        arrays: list[np.ndarray] = []
        for term in self.terms:
            reps = batch // len(term.channels)
            arrays.append(np.repeat(np.asarray(term.channels, np.int32), reps))
            arrays.append(np.repeat(np.asarray(term.coefficients, np.float32), reps))
        return arrays

    def __call__(self, activations: Mapping[str, Any]) -> tf.Tensor:
        """The objective ``(N,)`` of activations keyed by the layers named in the terms."""
        batch = int(next(iter(activations.values())).shape[0])
        if self.batch not in (None, batch):
            raise ValueError(f"the objective targets {self.batch} images, not {batch}.")
        structure = tuple((t.layer, t.reduction) for t in self.terms)
        return evaluate_terms(structure, activations, self.data(batch))

    def check_channels(self, channels: Mapping[str, int | None]) -> None:
        """Raise a clear ``ValueError`` for a channel index beyond its layer's channels."""
        for term in self.terms:
            count = channels.get(term.layer)
            bad = [c for c in term.channels if c < 0 or (count is not None and c >= count)]
            if bad:
                limit = f"0 to {count - 1}" if count is not None else "non-negative"
                raise ValueError(f"channel {bad[0]} is out of range for layer {term.layer!r} "
                                 f"({limit}); choose existing filters.")

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms)

    def __radd__(self, other: Any) -> Objective:
        if isinstance(other, int | float) and other == 0:  # so that sum(objectives) works
            return self
        return NotImplemented

    def __mul__(self, factor: float) -> Objective:
        if not isinstance(factor, int | float) or isinstance(factor, bool):
            return NotImplemented
        return Objective([Term(t.layer, t.reduction, t.channels,
                               tuple(float(factor) * c for c in t.coefficients))
                          for t in self.terms])

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return self * -1.0

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __str__(self) -> str:
        return " + ".join(str(t) for t in self.terms).replace("+ -", "- ")

    def __repr__(self) -> str:
        return f"Objective({self})"


def evaluate_terms(structure: Sequence[tuple[str, str]], activations: Mapping[str, Any],
                   data: Sequence[Any]) -> tf.Tensor:
    """Sum of the terms ``(N,)``; ``data`` alternates channel indices and coefficients per term.

    Used inside the compiled step (where ``data`` are tensors) and eagerly alike. Activations
    are cast to float32 so that a bfloat16 model still sums its objective in full precision.
    """
    total = None
    for position, (layer, reduction) in enumerate(structure):
        indices, coefficients = data[2 * position], data[2 * position + 1]
        per_channel = REDUCTIONS[reduction](tf.cast(activations[layer], tf.float32))
        picked = tf.gather(per_channel, indices, axis=1, batch_dims=1) * coefficients
        total = picked if total is None else total + picked
    if total is None:
        raise ValueError("the objective has no terms; build it with channel(...) or neuron(...).")
    return total


def _indices(values: Sequence[int] | range, what: str) -> tuple[int, ...]:
    picked = tuple(int(v) for v in values)
    if not picked:
        raise ValueError(f"no {what} given; pass at least one index.")
    return picked


def channel(layer: str, index: int) -> Objective:
    """Mean activation of channel ``index`` of ``layer`` over the whole map (seed S2's loss)."""
    return Objective([Term(layer, "mean", (int(index),), (1.0,))])


def channels(layer: str, indices: Sequence[int] | range) -> Objective:
    """A batch objective: image ``i`` maximizes the mean of channel ``indices[i]``."""
    picked = _indices(indices, "channels")
    return Objective([Term(layer, "mean", picked, (1.0,) * len(picked))])


def neuron(layer: str, index: int) -> Objective:
    """The activation of channel ``index`` at the centre of ``layer``'s map (lucid's neuron)."""
    return Objective([Term(layer, "center", (int(index),), (1.0,))])


def neurons(layer: str, indices: Sequence[int] | range) -> Objective:
    """A batch objective: image ``i`` maximizes the centre unit of channel ``indices[i]``."""
    picked = _indices(indices, "channels")
    return Objective([Term(layer, "center", picked, (1.0,) * len(picked))])
