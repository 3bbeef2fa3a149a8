"""The template every CAM method follows, and the helpers they share."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from PIL import Image


def normalize_map(raw: np.ndarray) -> np.ndarray:
    """Rectify and scale a map to [0, 1] by its maximum; an all-zero map stays zero."""
    rectified = np.maximum(raw, 0.0).astype(np.float32)
    peak = float(rectified.max()) if rectified.size else 0.0
    return rectified / peak if peak > 0 else np.zeros_like(rectified)


def resize_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a real-valued map ``(h, w)`` to ``size`` = (height, width)."""
    height, width = size
    if values.shape == (height, width):
        return values.astype(np.float32)
    image = Image.fromarray(values.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR))


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A map in [0, 1] resized to ``size`` (bilinear), still in [0, 1]."""
    return np.clip(resize_map(cam, size), 0.0, 1.0).astype(np.float32)


class CAMMethod:
    """A class activation map from a layer's activations ``A`` and gradients ``G`` (H, W, C).

    The template: per-channel weights from :meth:`channel_weights`, the weighted sum of the
    channels, a ReLU, and scaling to [0, 1]. A method overrides only what differs from it.
    """

    name: ClassVar[str] = ""
    uses_gradients: ClassVar[bool] = True

    def channel_weights(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def raw_map(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        """The map before rectification and scaling."""
        weights = self.channel_weights(activations, gradients)
        return activations @ weights.astype(activations.dtype)

    def __call__(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        """The map at the layer's resolution, in [0, 1].

        The arrays stay float32 (a float64 copy of an early VGG16 layer costs more than its
        whole CAM); methods that need more precision for small vectors widen those themselves.
        """
        return normalize_map(self.raw_map(np.asarray(activations, np.float32),
                                          np.asarray(gradients, np.float32)))
