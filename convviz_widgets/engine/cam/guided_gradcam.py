"""Guided Grad-CAM (Selvaraju et al., 2017, arXiv:1610.02391)."""

from __future__ import annotations

import numpy as np

from ..maps import upsample
from ..saliency import saliency_map
from .base import Request
from .gradcam import GradCAM
from .guided_backprop import GuidedBackprop


class GuidedGradCAM(GuidedBackprop):
    """Guided backpropagation times the layer's Grad-CAM upsampled (bilinearly) to the input
    size, for the same target (the paper's pointwise product), shown as ``max_c |·|``."""

    name = "guided gradcam"
    title = "Guided Grad-CAM"
    needs = frozenset({"gradients", "layer"})
    paper = "Selvaraju et al., 2017, arXiv:1610.02391"

    def explain(self, request: Request) -> np.ndarray:
        guided = request.tools.input_gradients(self.rule).gradient(request.image, request.target)
        cam = upsample(GradCAM().explain(request), guided.shape[:2])
        return saliency_map(guided * cam[..., None])
