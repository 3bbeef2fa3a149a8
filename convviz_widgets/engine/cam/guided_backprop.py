"""Guided backpropagation (Springenberg et al., 2015, arXiv:1412.6806)."""

from __future__ import annotations

import numpy as np

from ..saliency import saliency_map
from .base import Method, Request


class GuidedBackprop(Method):
    """The gradient where every ReLU passes back only positive gradients at positive inputs,
    shown as ``max_c |g_c|`` per pixel (the signed picture is
    :func:`~convviz_widgets.engine.saliency.guided_backprop`)."""

    name = "guided backprop"
    title = "Guided backpropagation"
    resolution = "input"
    paper = "Springenberg et al., 2015, arXiv:1412.6806"

    def explain(self, request: Request) -> np.ndarray:
        guided = request.tools.input_gradients("guided")
        return saliency_map(guided.gradient(request.image, request.target))
