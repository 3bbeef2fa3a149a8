"""Grad-CAM (Selvaraju et al., 2017, arXiv:1610.02391)."""

from __future__ import annotations

import numpy as np

from .base import CAMMethod


class GradCAM(CAMMethod):
    """Channel weight = the spatial mean of the gradient of the class score.

    ``cam = ReLU(sum_c mean_ij(dy/dA_c) * A_c)``, scaled to [0, 1] by its maximum.
    """

    name = "gradcam"
    title = "Grad-CAM"
    paper = "Selvaraju et al., 2017, arXiv:1610.02391"

    def channel_weights(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        return gradients.mean(axis=(0, 1), dtype=np.float64)
