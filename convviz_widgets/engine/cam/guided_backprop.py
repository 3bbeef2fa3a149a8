"""Guided backpropagation (Springenberg et al., 2015, arXiv:1412.6806)."""

from __future__ import annotations

from .saliency import InputGradientMethod


class GuidedBackprop(InputGradientMethod):
    """The gradient where every ReLU passes back only positive gradients at positive inputs,
    shown as ``max_c |g_c|`` (the signed picture is
    :func:`~convviz_widgets.engine.saliency.guided_backprop`)."""

    name = "guided backprop"
    title = "Guided backpropagation"
    paper = "Springenberg et al., 2015, arXiv:1412.6806"
    rule = "guided"
