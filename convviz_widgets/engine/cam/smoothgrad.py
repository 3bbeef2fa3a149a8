"""SmoothGrad (Smilkov et al., 2017, arXiv:1706.03825)."""

from __future__ import annotations

import numpy as np

from ..saliency import saliency_map
from .base import Method, Request


class SmoothGrad(Method):
    """The saliency map of the gradient averaged over noisy copies of the input (25 copies,
    noise 15 % of the input's range, seed 0: deterministic); slow, run on request."""

    name = "smoothgrad"
    title = "SmoothGrad"
    resolution = "input"
    slow = True
    needs = frozenset({"gradients", "passes"})
    paper = "Smilkov et al., 2017, arXiv:1706.03825"
    samples = 25
    noise = 0.15
    batch_size = 8

    def explain(self, request: Request) -> np.ndarray:
        gradients = request.tools.input_gradients("plain")
        mean = gradients.smooth(request.image, request.target, self.samples, self.noise, seed=0,
                                batch_size=self.batch_size, progress=request.checkpoint)
        return saliency_map(mean)
