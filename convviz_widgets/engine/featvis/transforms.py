"""Random transforms (jitter, scale, rotate) applied to the image before each step.

Optimizing an objective that must hold under small random shifts, zooms and rotations yields
patterns that are robust rather than adversarial high-frequency noise (Mordvintsev, Olah & Tyka,
2015, "Inceptionism"; Olah, Mordvintsev & Schubert, 2017, "Feature Visualization", Distill,
"transformation robustness").

Deviation from lucid, which applies pad, crop-jitter, scale and rotate one after the other: here
each transform is a 3×3 matrix mapping output pixels to input pixels, the matrices of all
transforms are multiplied, and the image is resampled *once* (bilinear, reflected at the borders,
``ImageProjectiveTransformV3``), which is differentiable with respect to the image, keeps the
image size fixed and does not blur the image three times. The random draws come from a seeded
NumPy generator outside the compiled step, one draw per step shared by the whole batch, so every
image of a batch sees what it would see alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf


def _about_center(matrix: np.ndarray, height: int, width: int) -> np.ndarray:
    """``matrix`` (a map of centred coordinates) as a map of pixel coordinates."""
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    to_center = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
    back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], np.float64)
    return back @ matrix @ to_center


@dataclass(frozen=True)
class Jitter:
    """Shift by a random whole number of pixels in ``[-pixels, pixels]`` on each axis."""

    pixels: int = 4

    def matrix(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random output-to-input pixel map ``(3, 3)``."""
        dx, dy = rng.integers(-self.pixels, self.pixels + 1, size=2)
        return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


@dataclass(frozen=True)
class Scale:
    """Zoom about the centre by a factor drawn uniformly from ``[low, high]``."""

    low: float = 0.95
    high: float = 1.05

    def matrix(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random output-to-input pixel map ``(3, 3)``."""
        factor = rng.uniform(self.low, self.high)
        # Output pixel p shows input pixel p / factor: the picture grows by ``factor``.
        return _about_center(np.diag([1.0 / factor, 1.0 / factor, 1.0]), height, width)


@dataclass(frozen=True)
class Rotate:
    """Rotate about the centre by an angle drawn uniformly from ``[-degrees, degrees]``."""

    degrees: float = 5.0

    def matrix(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random output-to-input pixel map ``(3, 3)``."""
        angle = np.deg2rad(rng.uniform(-self.degrees, self.degrees))
        cos, sin = np.cos(angle), np.sin(angle)
        return _about_center(np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]]), height, width)


Transform = Jitter | Scale | Rotate


def draw_matrix(transforms: Sequence[Transform], rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """The composed output-to-input map of one random draw of every transform, as 8 numbers.

    The image goes through ``transforms[0]`` first: output pixel ``p`` of the last transform
    reads the input at ``A_0 A_1 … A_k p``.
    """
    combined = np.eye(3)
    for transform in transforms:
        combined = combined @ transform.matrix(rng, height, width)
    combined /= combined[2, 2]
    return combined.ravel()[:8].astype(np.float32)


IDENTITY = np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32)


def apply_matrix(images: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
    """Resample ``images`` ``(N, H, W, C)`` through the output-to-input map ``matrix`` ``(8,)``.

    Bilinear, reflected at the borders, and differentiable with respect to ``images``.
    """
    shape = tf.shape(images)
    transforms = tf.tile(matrix[None], [shape[0], 1])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3],
        fill_value=tf.constant(0.0), interpolation="BILINEAR", fill_mode="REFLECT")
