"""Vanilla gradient saliency (Simonyan, Vedaldi & Zisserman, 2014, arXiv:1312.6034)."""

from __future__ import annotations

import numpy as np

from ..saliency import saliency_map
from .base import Method, Request


class Saliency(Method):
    """``max_c |d score / d x_c|`` per input pixel, scaled by its maximum (the paper does not
    scale)."""

    name = "saliency"
    title = "Saliency"
    resolution = "input"
    paper = "Simonyan et al., 2014, arXiv:1312.6034"

    def explain(self, request: Request) -> np.ndarray:
        gradients = request.tools.input_gradients("plain")
        return saliency_map(gradients.gradient(request.image, request.target))
