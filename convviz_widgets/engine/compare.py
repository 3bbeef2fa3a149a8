"""Two models of one architecture side by side: the check that they are comparable, the common
scaling of their maps, and the difference of their maps.

Used to compare two checkpoints of a training (a :class:`~.timeline.Timeline`'s epochs) or a
model before and after fine-tuning: the same layer of both is drawn with one scaling, and the
difference ``B − A`` on a diverging colormap, zero in the middle, symmetric over the layer.
"""

from __future__ import annotations

import numpy as np

from .layers import LayerInfo
from .render import ChannelStats

DIFFERENCE_CMAP = "RdBu_r"
"""Diverging colormap of difference maps: blue where B is lower, red where B is higher."""


def _weight_shapes(info: LayerInfo) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in w.shape) for w in getattr(info.layer, "weights", [])]


def architecture_difference(a: list[LayerInfo], b: list[LayerInfo]) -> str | None:
    """A sentence naming the first layer where two models differ (path, kind, output shape or
    weight shapes), or None when they have the same architecture.

    Examples
    --------
    >>> import keras
    >>> def model(filters):
    ...     return keras.Sequential([keras.Input((8, 8, 3)),
    ...                              keras.layers.Conv2D(filters, 3, name="conv")])
    >>> from convviz_widgets.engine.layers import discover_layers
    >>> architecture_difference(discover_layers(model(4)), discover_layers(model(4))) is None
    True
    >>> architecture_difference(discover_layers(model(4)), discover_layers(model(5)))
    "the models differ at layer 'conv': output (6, 6, 5) where the first has (6, 6, 4)"
    """
    for first, second in zip(a, b, strict=False):
        if first.path != second.path or first.class_name != second.class_name:
            return (f"the models differ at layer {second.path!r} ({second.class_name}) where the "
                    f"first has {first.path!r} ({first.class_name})")
        if first.output_shape != second.output_shape:
            return (f"the models differ at layer {second.path!r}: output {second.output_shape} "
                    f"where the first has {first.output_shape}")
        if _weight_shapes(first) != _weight_shapes(second):
            return (f"the models differ at layer {second.path!r}: weights "
                    f"{_weight_shapes(second)} where the first has {_weight_shapes(first)}")
    if len(a) != len(b):
        extra = (b if len(b) > len(a) else a)[min(len(a), len(b))]
        return (f"the models differ at layer {extra.path!r}: one has {len(a)} layers, the other "
                f"{len(b)}")
    return None


def joint_stats(a: ChannelStats, b: ChannelStats) -> ChannelStats:
    """Statistics covering both models' maps, so that one scaling draws both alike."""
    return ChannelStats(low=np.minimum(a.low, b.low), high=np.maximum(a.high, b.high),
                        mean=(a.mean + b.mean) / 2.0)


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b − a`` of two models' maps of one layer (float32); their shapes must agree."""
    if a.shape != b.shape:
        raise ValueError(f"maps of shapes {a.shape} and {b.shape} cannot be compared; compare "
                         "models of the same architecture on the same image.")
    return np.subtract(b, a, dtype=np.float32)
