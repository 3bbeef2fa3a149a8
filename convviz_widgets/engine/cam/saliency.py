"""Vanilla gradient saliency (Simonyan, Vedaldi & Zisserman, 2014, arXiv:1312.6034), and the
template of the methods that show an input gradient."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..saliency import saliency_map
from .base import Method, Request


class InputGradientMethod(Method):
    """The template: ``max_c |d score / d x_c|`` per input pixel, scaled by its maximum, where
    ReLUs pass gradients back by :attr:`rule` (see
    :func:`~convviz_widgets.engine.saliency.relu_backward_rule`)."""

    resolution = "input"
    rule: ClassVar[str] = "plain"

    def explain(self, request: Request) -> np.ndarray:
        gradients = request.tools.input_gradients(self.rule)
        return saliency_map(gradients.gradient(request.image, request.target))


class Saliency(InputGradientMethod):
    """The plain gradient (the paper does not scale the map)."""

    name = "saliency"
    title = "Saliency"
    paper = "Simonyan et al., 2014, arXiv:1312.6034"
