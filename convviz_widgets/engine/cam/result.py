"""CAMs for an image: one layer, or every conv layer from the same forward and backward pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..gradients import BinaryTarget, ChannelTarget, ClassTarget, LayerGradients, Target
from ..images import ImageInput, ImageSource
from .base import CAMMethod, upsample


@dataclass(frozen=True)
class CAMResult:
    """A class activation map at the layer's resolution and at the input's."""

    layer: str
    target: Target
    method: str
    map: np.ndarray  # (h, w) float32 in [0, 1]
    upsampled: np.ndarray  # (H, W) float32 in [0, 1], the model input's size
    score: float  # the explained score (logit by default)


def resolve_target(target: Target | int | str | None, gradients: LayerGradients,
                   probabilities: np.ndarray | None = None) -> Target:
    """Accept a Target (a class, a sigmoid side, a :class:`ChannelTarget`), a class index,
    ``"positive"``/``"negative"``, or None (the top class)."""
    if isinstance(target, (ClassTarget, BinaryTarget, ChannelTarget)):
        return target
    if isinstance(target, str):
        if target not in ("positive", "negative"):
            raise ValueError(f"a target is a class index, 'positive' or 'negative': {target!r}.")
        return BinaryTarget(positive=target == "positive")
    if target is None:
        if gradients.head.units == 1 and gradients.head.squashing == "sigmoid":
            return BinaryTarget(positive=True)
        if probabilities is None:
            raise ValueError("give a target class index.")
        return ClassTarget(int(np.argmax(probabilities)))
    return ClassTarget(int(target))


def _method(method: str | CAMMethod) -> CAMMethod:
    from . import METHODS

    if isinstance(method, CAMMethod):
        return method
    if method not in METHODS:
        raise ValueError(f"unknown CAM method {method!r}; use one of {', '.join(METHODS)}.")
    return METHODS[method]()


def _explain(gradients: LayerGradients, image: ImageSource | ImageInput, target: Any,
             method: str | CAMMethod, paths: list[str]) -> dict[str, CAMResult]:
    prepared = gradients.probe.prepare(image)
    predicted = gradients.probe.predict(prepared) if target is None else None
    resolved = resolve_target(target, gradients, predicted)
    record = gradients.compute(prepared, [resolved])
    explain = _method(method)
    results = {}
    for path in paths:
        cam = explain(record.activations[path], record.gradients[path][0])
        results[path] = CAMResult(layer=path, target=resolved, method=explain.name, map=cam,
                                  upsampled=upsample(cam, prepared.shape[:2]),
                                  score=float(record.scores[0]))
    return results


def cam_sweep(gradients: LayerGradients, image: ImageSource | ImageInput, target: Any = None,
              method: str | CAMMethod = "gradcam") -> dict[str, CAMResult]:
    """The CAM of every watched layer, from one forward and one backward pass (cached).

    ``target``: a class index, ``"positive"``/``"negative"`` for a single sigmoid unit, a
    :class:`ClassTarget`/:class:`BinaryTarget`, or None for the predicted class.
    """
    return _explain(gradients, image, target, method, [info.path for info in gradients.layers])


def compute_cam(gradients: LayerGradients, image: ImageSource | ImageInput, layer: str,
                target: Any = None, method: str | CAMMethod = "gradcam") -> CAMResult:
    """The CAM of one layer; its gradients come from the same cached pass as every layer's."""
    path = gradients.probe.layer(layer).path
    watched = [info.path for info in gradients.layers]
    if path not in watched:
        raise ValueError(f"layer {path!r} is not a conv layer being explained; choose one of "
                         f"{', '.join(watched)}.")
    return _explain(gradients, image, target, method, [path])[path]
