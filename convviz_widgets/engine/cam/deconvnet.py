"""Deconvnet of a class score (Zeiler & Fergus, 2014, arXiv:1311.2901)."""

from __future__ import annotations

import numpy as np

from ..saliency import saliency_map
from .base import Method, Request


class Deconvnet(Method):
    """The target's score sent back to the pixels with the deconvnet's rectification (every
    ReLU passes back the positive part of its gradient), shown as ``max_c |·|``.

    The paper projects one feature map's strongest activation; projecting a class score, as
    Captum's ``Deconvolution`` does, makes it comparable with the other methods here. Feature
    maps are projected by :func:`~convviz_widgets.engine.deconv.deconv_projections`.
    """

    name = "deconvnet"
    title = "Deconvnet"
    resolution = "input"
    paper = "Zeiler & Fergus, 2014, arXiv:1311.2901"

    def explain(self, request: Request) -> np.ndarray:
        projected = request.tools.input_gradients("deconvnet")
        return saliency_map(projected.gradient(request.image, request.target))
