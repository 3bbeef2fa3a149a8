"""Is a saliency map faithful to the model? The pointing game, deletion and insertion curves,
and the model-randomization sanity check.

Each check takes maps computed by any method (a CAM, a saliency map), so every method is
measured the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .images import ImageInput, ImageSource
from .protocol import ModelProbe
from .targets import BinaryTarget, ClassTarget, resolve_target


def pointing_hit(saliency: np.ndarray, mask: np.ndarray, tolerance: float = 0.0) -> bool:
    """Whether the map's peak falls on ``mask``, or within ``tolerance`` pixels of it.

    The pointing game of Zhang et al., 2016, "Top-down Neural Attention by Excitation
    Backprop", arXiv:1608.00507, which counts a hit within 15 pixels of the object on ImageNet
    images (about 224 px: :func:`paper_tolerance` scales that to other sizes). The default,
    ``tolerance=0``, is stricter than the paper: the peak must be on the object itself. A map
    that is zero everywhere points nowhere and misses.

    Parameters
    ----------
    saliency : numpy.ndarray
        ``(H, W)`` map at the mask's resolution (upsample a CAM first).
    mask : numpy.ndarray
        ``(H, W)`` bool, True on the object.
    tolerance : float
        Largest distance in pixels from the peak to the nearest object pixel that still counts.

    Examples
    --------
    >>> mask = np.zeros((4, 4), bool); mask[:2, :2] = True
    >>> pointing_hit(np.eye(4), mask), pointing_hit(np.eye(4)[::-1], mask)
    (True, False)
    >>> pointing_hit(np.eye(4)[::-1], mask, tolerance=2.0)
    True
    """
    if saliency.shape != mask.shape:
        raise ValueError(f"the map {saliency.shape} and the mask {mask.shape} differ in size; "
                         "upsample the map to the image size first.")
    if not np.any(saliency > 0) or not mask.any():
        return False
    row, col = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    if mask[row, col]:
        return True
    rows, cols = np.nonzero(mask)
    return bool(np.min((rows - row) ** 2 + (cols - col) ** 2) <= tolerance**2)


def paper_tolerance(image_size: int) -> float:
    """The pointing game's 15-pixel tolerance on ~224-pixel ImageNet images, scaled to
    ``image_size`` (Zhang et al., 2016): 4.3 px for the bundled 64-pixel images."""
    return 15.0 * image_size / 224.0


@dataclass(frozen=True)
class CausalCurves:
    """Deletion and insertion curves of one map (Petsiuk et al., 2018, arXiv:1806.07421).

    Attributes
    ----------
    fractions : numpy.ndarray
        Share of pixels deleted (or inserted) at each point, from 0 to 1.
    deletion, insertion : numpy.ndarray
        The target's score at each point.
    deletion_auc, insertion_auc : float
        Areas under the curves (trapezoid rule over ``fractions``). A faithful map has a low
        deletion AUC (the score falls fast when its top pixels go) and a high insertion AUC.
    """

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def causal_curves(
    score: Callable[[np.ndarray], np.ndarray],
    pixels: np.ndarray,
    saliency: np.ndarray,
    steps: int = 16,
    baseline: np.ndarray | float | None = None,
    batch_size: int = 34,
) -> CausalCurves:
    """Deletion and insertion curves: remove (or reveal) pixels in order of saliency.

    Petsiuk, Das & Saenko, 2018, "RISE: Randomized Input Sampling for Explanation of Black-box
    Models", arXiv:1806.07421, section 4.1. Deviations: ``steps`` equal shares of pixels
    rather than a fixed number per step; deletion replaces pixels with ``baseline`` (default:
    the image's mean colour, a gentler baseline than the paper's zeros for raw-pixel models) and
    insertion starts from a blurred copy as in the paper, approximated by the same baseline.
    All ``2 × (steps + 1)`` images are scored in batches.

    Parameters
    ----------
    score : callable
        Maps a batch of images ``(N, H, W, C)`` (the model's raw pixels) to the target's score
        per image, e.g. its probability.
    pixels : numpy.ndarray
        The image ``(H, W, C)`` as fed to ``score``.
    saliency : numpy.ndarray
        ``(H, W)`` map; higher means more important. Ties keep raster order.
    steps : int
        Number of deletion (and insertion) steps.
    baseline : array or float, optional
        What a deleted pixel becomes; default: the per-channel mean of ``pixels``.

    Returns
    -------
    CausalCurves

    Examples
    --------
    >>> image = np.zeros((2, 2, 1), np.float32); image[0, 0] = 1
    >>> curves = causal_curves(lambda b: b.sum(axis=(1, 2, 3)), image,
    ...                        np.array([[1.0, 0], [0, 0]]), steps=4, baseline=0.0)
    >>> curves.deletion.tolist(), curves.insertion.tolist()
    ([1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0, 1.0])
    """
    height, width, _ = pixels.shape
    if saliency.shape != (height, width):
        raise ValueError(f"the map {saliency.shape} must have the image's size {(height, width)}.")
    if steps < 1:
        raise ValueError("steps must be at least 1.")
    pixels = pixels.astype(np.float32)
    if baseline is None:
        baseline = pixels.mean(axis=(0, 1), keepdims=True)
    filler = np.broadcast_to(np.asarray(baseline, np.float32), pixels.shape)
    order = np.argsort(-saliency.ravel(), kind="stable")
    counts = np.round(np.linspace(0, order.size, steps + 1)).astype(int)
    flat_rank = np.empty(order.size, np.int64)
    flat_rank[order] = np.arange(order.size)
    rank = flat_rank.reshape(height, width)
    batch = []
    for count in counts:  # deletion: the top `count` pixels become the baseline
        removed = (rank < count)[:, :, None]
        batch.append(np.where(removed, filler, pixels))
    for count in counts:  # insertion: only the top `count` pixels are the image's
        revealed = (rank < count)[:, :, None]
        batch.append(np.where(revealed, pixels, filler))
    images = np.stack(batch)
    scores = np.concatenate([np.asarray(score(images[i:i + batch_size]), np.float64).ravel()
                             for i in range(0, len(images), batch_size)])
    fractions = counts / order.size
    deletion, insertion = scores[: steps + 1], scores[steps + 1 :]
    return CausalCurves(fractions, deletion, insertion, _trapezoid(deletion, fractions),
                        _trapezoid(insertion, fractions))


def target_probability(probe: ModelProbe, index: int, positive: bool = True,
                       output: int | str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled ``raw pixels batch -> probability of class index`` through ``probe``'s
    preprocessing; for a single sigmoid unit, ``positive=False`` scores ``1 - p``.

    The scorer is the probe's own (traced once per model and output, shared with Score-CAM).
    """
    explainer = probe.explainer(output)
    target = (BinaryTarget(positive) if explainer.head.binary
              else resolve_target(ClassTarget(index), explainer.head))
    return explainer.scorer().on_pixels(target)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape (average ranks for ties).

    Returns 0.0 when either map is constant (no order to compare).

    Examples
    --------
    >>> rank_correlation(np.arange(4.0), np.arange(4.0) ** 2)
    1.0
    """
    if a.shape != b.shape:
        raise ValueError(f"maps of shapes {a.shape} and {b.shape} cannot be compared.")
    ra, rb = _average_ranks(a.ravel()), _average_ranks(b.ravel())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, np.float64)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    # Ties share the mean of their ranks.
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def randomized_copy(model: Any, layer_names: Sequence[str], seed: int = 0) -> Any:
    """A copy of ``model`` whose named layers get fresh random weights; the model is untouched.

    Each re-initialized weight is drawn from a normal distribution with the original weight's
    standard deviation (biases are zeroed), as in Adebayo et al., 2018's cascading
    randomization. Works on functional and Sequential models (nested models are cloned whole:
    name their inner layers' parents).
    """
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    for name in layer_names:
        _randomize(copy.get_layer(name), rng)
    return copy


def _randomize(layer: Any, rng: np.random.Generator) -> None:
    fresh = []
    for weight in layer.get_weights():
        if weight.ndim <= 1:
            fresh.append(np.zeros_like(weight))
        else:
            fresh.append(rng.normal(0.0, float(weight.std()) or 0.05,
                                    weight.shape).astype(weight.dtype))
    layer.set_weights(fresh)


@dataclass(frozen=True)
class RandomizationStep:
    """One step of the cascade: the layers randomized so far and how much the map changed."""

    randomized: tuple[str, ...]
    map: np.ndarray
    rank_correlation: float


def randomization_check(
    explain: Callable[[Any, ImageSource | ImageInput], np.ndarray],
    model: Any,
    image: ImageSource | ImageInput,
    cascade: Sequence[str],
    seed: int = 0,
) -> list[RandomizationStep]:
    """Cascading model-randomization sanity check (Adebayo et al., 2018, arXiv:1810.03292).

    Re-initializes the layers of ``cascade`` one more at a time, from the top of the network
    down, and measures how much the explanation changes (Spearman rank correlation with the
    map of the trained model). A method that passes changes its maps: high correlation after
    randomizing the classifier means the map does not depend on what the model learned.

    Parameters
    ----------
    explain : callable
        ``explain(model, image) -> (H, W)`` map; called on the trained model first, then on
        one copy randomized further at each step (the user's model itself is never modified;
        use a probe per model, e.g. ``shared_probe(model)``, so nothing is traced twice).
    model : keras.Model
    image : image
    cascade : sequence of str
        Layer names, top first, e.g. ``["predictions", "block4_conv2", "block4_conv1"]``.

    Returns
    -------
    list of RandomizationStep
        The first entry is the trained model (correlation 1.0 with itself).
    """
    original = explain(model, image)
    steps = [RandomizationStep((), original, 1.0)]
    # One copy, randomized one more layer at a time (the draws are those of randomized_copy
    # with the same seed): ``explain`` sees the same model at every step, so a probe kept per
    # model traces its functions once and its caches follow the weights.
    copy = randomized_copy(model, (), seed=seed)
    rng = np.random.default_rng(seed)
    for depth in range(1, len(cascade) + 1):
        _randomize(copy.get_layer(cascade[depth - 1]), rng)
        changed = explain(copy, image)
        steps.append(RandomizationStep(tuple(cascade[:depth]), changed,
                                       rank_correlation(original, changed)))
    return steps


def pointing_game(
    explain: Callable[[np.ndarray, int], np.ndarray],
    scenes: Iterable[tuple[np.ndarray, dict[str, np.ndarray]]],
    class_names: Sequence[str],
    tolerance: float = 0.0,
) -> float:
    """Share of (scene, present class) pairs whose map peaks on that class's object.

    Parameters
    ----------
    explain : callable
        ``explain(image, class_index) -> (H, W)`` map at the image's size, e.g.
        ``lambda image, k: probe.cam(image, layer, k).upsampled``.
    scenes : iterable
        ``(image, {class name: mask})`` pairs, e.g. :func:`convviz_widgets.zoo.shapes.
        two_shape_scenes`.
    class_names : sequence of str
        The model's class names, to turn a mask's name into a class index.
    tolerance : float
        See :func:`pointing_hit` (0: the peak must be on the object).
    """
    hits = [pointing_hit(explain(image, list(class_names).index(name)), mask, tolerance)
            for image, masks in scenes for name, mask in masks.items()]
    if not hits:
        raise ValueError("the pointing game needs at least one scene with an object.")
    return float(np.mean(hits))
