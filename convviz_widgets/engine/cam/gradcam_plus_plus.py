"""Grad-CAM++ (Chattopadhyay et al., 2018, arXiv:1710.11063)."""

from __future__ import annotations

import numpy as np

from .base import CAMMethod


class GradCAMPlusPlus(CAMMethod):
    """Channel weight = sum over pixels of ``alpha_ij * ReLU(g_ij)``, with

    ``alpha = g² / (2 g² + sum_ab(A_ab) g³)`` — the closed form of the paper's eq. 19 under its
    exponential-score assumption (as in the authors' code), 0 where the gradient is 0.
    """

    name = "gradcam++"
    title = "Grad-CAM++"
    paper = "Chattopadhyay et al., 2018, arXiv:1710.11063"

    def channel_weights(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        # Cubes of small gradients underflow in float32: this method works in float64.
        gradients = gradients.astype(np.float64)
        g2, g3 = gradients**2, gradients**3
        denominator = 2.0 * g2 + activations.sum(axis=(0, 1), dtype=np.float64) * g3
        alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
        return (alpha * np.maximum(gradients, 0.0)).sum(axis=(0, 1))
