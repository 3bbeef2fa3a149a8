"""Eigen-CAM (Muhammad & Yeasin, 2020, arXiv:2008.00299)."""

from __future__ import annotations

import numpy as np

from .base import CAMMethod, Request


class EigenCAM(CAMMethod):
    """The activations projected on their first principal component; needs no gradient.

    Class-agnostic, as in the paper. The sign of a principal component is arbitrary: it is
    chosen so that the map correlates positively with the mean activation.
    """

    name = "eigencam"
    title = "Eigen-CAM"
    needs = frozenset({"activations"})
    paper = "Muhammad & Yeasin, 2020, arXiv:2008.00299"

    def explain(self, request: Request) -> np.ndarray:
        activations = request.activations()
        return self(activations, np.zeros_like(activations))

    def raw_map(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        height, width, channels = activations.shape
        flat = activations.reshape(-1, channels)
        centered = flat - flat.mean(axis=0)
        if not np.any(centered):
            return np.zeros((height, width))
        _, _, components = np.linalg.svd(centered, full_matrices=False)
        projection = flat @ components[0]
        if np.corrcoef(projection, flat.mean(axis=1))[0, 1] < 0:
            projection = -projection
        return projection.reshape(height, width)
