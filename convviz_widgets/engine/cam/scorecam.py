"""Score-CAM (Wang et al., 2020, arXiv:1910.01279), batched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..maps import normalize_map, resize_map
from .base import Method, Request


def channel_masks(activations: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Each channel upsampled to the input size and min–max scaled to [0, 1]: ``(C, H, W)``."""
    masks = np.stack([resize_map(activations[:, :, c], size)
                      for c in range(activations.shape[-1])])
    low = masks.min(axis=(1, 2), keepdims=True)
    span = masks.max(axis=(1, 2), keepdims=True) - low
    return np.divide(masks - low, span, out=np.zeros_like(masks), where=span > 0)


def score_cam(
    model_scores: Callable[[np.ndarray], np.ndarray],
    model_input: np.ndarray,
    activations: np.ndarray,
    batch_size: int = 32,
    progress: Callable[[int, int], Any] | None = None,
) -> np.ndarray:
    """Score-CAM map of one layer, scoring masked inputs ``batch_size`` at a time.

    Parameters
    ----------
    model_scores : callable
        Maps a batch of model inputs ``(N, H, W, C)`` to the target's score per input
        (the paper uses the softmax probability of the class).
    model_input : numpy.ndarray
        The preprocessed input ``(1, H, W, C)``.
    activations : numpy.ndarray
        The layer's activations ``(h, w, K)`` for that input.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch; it may raise to stop.

    Returns
    -------
    numpy.ndarray
        ``(h, w)`` map in [0, 1]: ``ReLU(sum_k softmax(s)_k A_k)`` with ``s_k`` the score of the
        input masked by channel ``k`` (the paper's channel-wise increase of confidence, whose
        baseline term is the same for every channel and cancels in the softmax).
    """
    masks = channel_masks(activations, model_input.shape[1:3])
    scores = np.empty(len(masks), np.float64)
    for start in range(0, len(masks), batch_size):
        chunk = masks[start : start + batch_size, :, :, None]
        scores[start : start + len(chunk)] = np.asarray(model_scores(model_input * chunk))
        if progress is not None:
            progress(min(start + batch_size, len(masks)), len(masks))
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    return normalize_map(np.tensordot(activations.astype(np.float64), weights, axes=([-1], [0])))


class ScoreCAM(Method):
    """Channels weighted by how much each, used as a mask on the input, raises the target's
    probability; needs no gradient but one scored input per channel (slow: run on request)."""

    name = "scorecam"
    title = "Score-CAM"
    slow = True
    needs = frozenset({"activations", "scorer", "passes"})
    paper = "Wang et al., 2020, arXiv:1910.01279"
    batch_size = 32

    def explain(self, request: Request) -> np.ndarray:
        scorer = request.tools.scorer()
        model_input = request.tools.probe.model_input(request.image)
        return score_cam(lambda batch: scorer.scores(batch, request.target), model_input,
                         request.activations(), self.batch_size, progress=request.checkpoint)
