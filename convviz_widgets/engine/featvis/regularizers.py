"""Regularizers that keep activation-maximization images natural-looking.

All three are *penalties*: each step maximizes ``objective − Σ weight × penalty``, per image,
with images rescaled to [0, 1] so a weight means the same for any parameterization. Being
penalties, they act through any parameterization (pixels or FFT) and are part of the gradient
that S2's RMS normalization scales.

- :class:`L2`: ``mean((x − 0.5)²)``, pulling pixels toward mid-gray; the "L2 decay" of Yosinski
  et al. (2015, "Understanding Neural Networks Through Deep Visualization", arXiv:1506.06579),
  who apply it as a multiplicative image update instead.
- :class:`TotalVariation`: ``mean((x[i+1, j] − x[i, j])²) + mean((x[i, j+1] − x[i, j])²)``,
  the β = 2 total variation of Mahendran & Vedaldi (2015, "Understanding Deep Image
  Representations by Inverting Them", arXiv:1412.0035), penalizing pixel-to-pixel noise.
- :class:`Blur`: ``½ mean((x − stop_gradient(blur(x)))²)``, whose gradient step moves each image
  toward its Gaussian blur: Yosinski et al.'s "blur every step" image update written as a
  penalty (lucid's ``blur_input_each_step``), so it works through any parameterization.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


def _per_image_mean(values: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(values, axis=tuple(range(1, values.shape.rank)))


@dataclass(frozen=True)
class L2:
    """Penalty ``weight × mean((x − 0.5)²)`` on images in [0, 1]."""

    weight: float = 0.05

    def penalty(self, images: tf.Tensor) -> tf.Tensor:
        """One value per image ``(N,)`` (before ``weight``)."""
        return _per_image_mean(tf.square(images - 0.5))


@dataclass(frozen=True)
class TotalVariation:
    """Penalty ``weight × (mean squared vertical + horizontal neighbour differences)``."""

    weight: float = 0.05

    def penalty(self, images: tf.Tensor) -> tf.Tensor:
        """One value per image ``(N,)`` (before ``weight``)."""
        down = images[:, 1:, :, :] - images[:, :-1, :, :]
        right = images[:, :, 1:, :] - images[:, :, :-1, :]
        return _per_image_mean(tf.square(down)) + _per_image_mean(tf.square(right))


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalized 1-D Gaussian of radius ``ceil(2 σ)`` (at least 1)."""
    radius = max(1, int(np.ceil(2.0 * sigma)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / max(sigma, 1e-6)) ** 2)
    return (weights / weights.sum()).astype(np.float32)


def blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of ``images`` ``(N, H, W, C)``, borders reflected."""
    taps = gaussian_kernel(sigma)
    radius = taps.size // 2
    channels = images.shape[-1]
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    vertical = np.tile(taps.reshape(-1, 1, 1, 1), (1, 1, channels, 1))
    horizontal = np.tile(taps.reshape(1, -1, 1, 1), (1, 1, channels, 1))
    out = tf.nn.depthwise_conv2d(padded, vertical, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, horizontal, [1, 1, 1, 1], "VALID")


@dataclass(frozen=True)
class Blur:
    """Penalty whose gradient pulls each image toward its Gaussian blur of width ``sigma``."""

    weight: float = 0.1
    sigma: float = 0.5

    def penalty(self, images: tf.Tensor) -> tf.Tensor:
        """One value per image ``(N,)`` (before ``weight``)."""
        target = tf.stop_gradient(blur(images, self.sigma))
        return 0.5 * _per_image_mean(tf.square(images - target))


Regularizer = L2 | TotalVariation | Blur


def total_penalty(regularizers: tuple[Regularizer, ...], images: tf.Tensor) -> tf.Tensor | None:
    """``Σ weight × penalty`` per image ``(N,)`` of images on the 0–255 scale, or ``None``."""
    if not regularizers:
        return None
    unit = images / 255.0
    return tf.add_n([r.weight * r.penalty(unit) for r in regularizers])
