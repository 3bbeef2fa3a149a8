"""Real-valued maps (CAMs, saliency): rectify and scale to [0, 1], resize to another grid."""

from __future__ import annotations

import numpy as np
from PIL import Image


def normalize_map(raw: np.ndarray) -> np.ndarray:
    """Rectify and scale a map to [0, 1] by its maximum; an all-zero map stays zero.

    Examples
    --------
    >>> normalize_map(np.array([[-1.0, 2.0], [1.0, 4.0]])).tolist()
    [[0.0, 0.5], [0.25, 1.0]]
    """
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
