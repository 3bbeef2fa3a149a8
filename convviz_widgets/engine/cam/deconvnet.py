"""Deconvnet of a class score (Zeiler & Fergus, 2014, arXiv:1311.2901)."""

from __future__ import annotations

from .saliency import InputGradientMethod


class Deconvnet(InputGradientMethod):
    """The target's score sent back to the pixels with the deconvnet's rectification (every
    ReLU passes back the positive part of its gradient), shown as ``max_c |·|``.

    The paper projects one feature map's strongest activation; projecting a class score, as
    Captum's ``Deconvolution`` does, makes it comparable with the other methods here. Feature
    maps are projected by :func:`~convviz_widgets.engine.deconv.deconv_projections`.
    """

    name = "deconvnet"
    title = "Deconvnet"
    paper = "Zeiler & Fergus, 2014, arXiv:1311.2901"
    rule = "deconvnet"
