"""How much each channel of a layer contributes to a class: the contribution ranking.

Two numbers per channel ``k`` of the layer's activations ``A`` (``H × W × C``), from the
gradient ``G = ∂y/∂A`` of the class score ``y`` that Grad-CAM already computed:

- the **Grad-CAM weight** ``α_k = mean_ij G_ijk`` (Selvaraju et al., 2017, arXiv:1610.02391,
  eq. 1): how strongly the score responds to the channel, wherever it is active;
- the **contribution** ``c_k = Σ_ij G_ijk A_ijk`` (gradient × activation, the first-order
  Taylor term of the score in the channel: Simonyan et al., 2014, arXiv:1312.6034;
  Shrikumar et al., 2017, arXiv:1704.02685), which also weighs how active the channel is on
  this image. The ranking orders channels by it; ``Σ_k c_k`` is the first-order estimate of the
  score's change were the whole layer switched off.

Nothing here runs the model: the numbers come from the gradient record the CAM cached
(one forward and one backward pass for every explained class and layer).

Examples
--------
>>> import numpy as np
>>> activations = np.array([[[1.0, 0.0], [3.0, 2.0]]])  # 1 × 2 cells, 2 channels
>>> gradients = np.array([[[0.5, 1.0], [0.5, -1.0]]])
>>> ranking = Contributions.of("conv", activations, gradients)
>>> ranking.weights.tolist(), ranking.contributions.tolist(), ranking.order().tolist()
([0.5, 0.0], [2.0, -2.0], [0, 1])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .layers import check_channel

BY = ("contribution", "weight")


@dataclass(frozen=True)
class Contributions:
    """The Grad-CAM weight and the contribution of every channel of one layer to one target."""

    layer: str
    weights: np.ndarray  # (C,) float64, mean gradient over space
    contributions: np.ndarray  # (C,) float64, gradient × activation summed over space
    activations: np.ndarray = field(repr=False)  # (H, W, C) float32

    @classmethod
    def of(cls, layer: str, activations: np.ndarray, gradients: np.ndarray) -> Contributions:
        """From a layer's activations and the target's gradient, both ``(H, W, C)``."""
        a = np.asarray(activations, np.float64)
        g = np.asarray(gradients, np.float64)
        return cls(layer=layer, weights=g.mean(axis=(0, 1)),
                   contributions=(g * a).sum(axis=(0, 1)),
                   activations=np.asarray(activations, np.float32))

    @property
    def channels(self) -> int:
        """Channels of the layer."""
        return int(self.weights.size)

    def values(self, by: str = "contribution") -> np.ndarray:
        """The numbers ranked: ``"contribution"`` or ``"weight"``."""
        if by not in BY:
            raise ValueError(f"unknown ranking {by!r}; use one of {', '.join(BY)}.")
        return self.contributions if by == "contribution" else self.weights

    def order(self, by: str = "contribution") -> np.ndarray:
        """Channels from the largest to the smallest value (ties: lower channel first)."""
        return np.argsort(-self.values(by), kind="stable")

    def rank(self, channel: int, by: str = "contribution") -> int:
        """The channel's place in :meth:`order`, from 1."""
        self._check(channel)
        return int(np.flatnonzero(self.order(by) == channel)[0]) + 1

    def weighted_map(self, channel: int) -> np.ndarray:
        """The channel's term of the Grad-CAM sum, ``α_k A_k`` ``(H, W)``."""
        self._check(channel)
        return self.weights[channel] * self.activations[:, :, channel].astype(np.float64)

    def _check(self, channel: int) -> None:
        check_channel(channel, self.layer, self.channels)


def channel_contributions(gradients: Any, image: Any, layer: str, target: Any = None
                          ) -> Contributions:
    """The contributions of ``layer``'s channels to ``target`` (default: the predicted class).

    ``gradients`` is a :class:`~convviz_widgets.engine.gradients.LayerGradients`; its cached
    record is used when the CAM of this image, weights and target was computed (no new pass).
    """
    info = gradients.probe.layer(layer)
    record = gradients.compute(image, [target])
    if info.path not in record.activations:
        raise ValueError(f"layer {info.path!r} is not a conv layer being explained; choose one "
                         f"of {', '.join(record.activations)}.")
    return Contributions.of(info.path, record.activations[info.path],
                            record.gradients[info.path][0])


__all__ = ["BY", "Contributions", "channel_contributions"]
