"""Layer-CAM (Jiang et al., 2021, IEEE TIP 30:5875)."""

from __future__ import annotations

import numpy as np

from .base import CAMMethod


class LayerCAM(CAMMethod):
    """Pixel-wise weights: ``cam = ReLU(sum_c ReLU(g_c) * A_c)``; reliable on early layers too."""

    name = "layercam"
    title = "Layer-CAM"
    paper = "Jiang et al., 2021, IEEE TIP 30:5875"

    def raw_map(self, activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
        return (np.maximum(gradients, 0.0) * activations).sum(axis=-1)
