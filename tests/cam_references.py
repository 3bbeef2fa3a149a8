"""Independent references of every explanation method, for ``tiny_models.spatial_model``.

Nothing here uses convviz_widgets: the model's forward pass is written again with plain
TensorFlow ops on the same fixed weights, differentiated with ``tf.GradientTape``; guided
backpropagation and the deconvnet use ReLUs whose backward rules are written here; Eigen-CAM
is an SVD in numpy; Score-CAM scores each masked input one by one; bilinear upsampling is
written out in numpy. Where the engine departs from a paper (documented in its docstrings),
the reference follows the engine's documented definition:

- Scores are class logits (the softmax is skipped), unless a probability is asked for.
- Every map is rectified and scaled to [0, 1] by its maximum (an all-zero map stays zero).
- Input-resolution maps show ``max_c |gradient_c|`` per pixel.
- Eigen-CAM projects the (uncentred) activations on the first principal component of the
  centred ones, its sign chosen so that the map correlates positively with the mean activation.
- Score-CAM's masks are the channels upsampled bilinearly to the input size and min–max scaled;
  the weights are the softmax of the masked inputs' class probabilities.
- SmoothGrad: 25 copies, noise std 0.15 × (max − min) of the input, drawn at once with
  ``np.random.default_rng(0).normal(0, 1, (25, H, W, C))``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tiny_models import (
    SPATIAL_BIAS1,
    SPATIAL_BIAS2,
    SPATIAL_CONV1,
    SPATIAL_CONV2,
    SPATIAL_DENSE,
)

LAYERS = ("conv1", "conv2")
CLASSES = (0, 1, 2)
SMOOTHGRAD_SAMPLES, SMOOTHGRAD_NOISE, SMOOTHGRAD_SEED = 25, 0.15, 0


# --------------------------------------------------------------------------- the model again


@tf.custom_gradient
def guided_relu(x):
    """ReLU that passes back a gradient only where it is positive and the input was positive."""
    def backward(upstream):
        return upstream * tf.cast(upstream > 0, upstream.dtype) * tf.cast(x > 0, x.dtype)
    return tf.maximum(x, 0.0), backward


@tf.custom_gradient
def deconvnet_relu(x):
    """ReLU that passes back the positive part of the gradient, whatever its input was."""
    def backward(upstream):
        return tf.maximum(upstream, 0.0)
    return tf.maximum(x, 0.0), backward


RELUS: dict[str, Callable] = {"plain": tf.nn.relu, "guided": guided_relu,
                              "deconvnet": deconvnet_relu}


def forward(x: tf.Tensor, relu: Callable = tf.nn.relu) -> dict[str, tf.Tensor]:
    """``spatial_model`` on a batch ``(N, 4, 4, 3)``: conv1 and conv2 before (``…_pre``) and
    after their ReLUs, and the logits."""
    conv1_pre = tf.nn.conv2d(x, SPATIAL_CONV1, 1, "VALID") + SPATIAL_BIAS1
    conv1 = relu(conv1_pre)
    conv2_pre = tf.nn.conv2d(conv1, SPATIAL_CONV2, 1, "VALID") + SPATIAL_BIAS2
    conv2 = relu(conv2_pre)
    logits = tf.reshape(conv2, (-1, 8)) @ SPATIAL_DENSE
    return {"conv1_pre": conv1_pre, "conv1": conv1, "conv2_pre": conv2_pre, "conv2": conv2,
            "logits": logits}


def logits(image: np.ndarray) -> np.ndarray:
    """The three class logits of one image (float64)."""
    return forward(tf.constant(image[None], tf.float32))["logits"][0].numpy().astype(np.float64)


def probabilities(batch: np.ndarray) -> np.ndarray:
    """Softmax probabilities ``(N, 3)`` of a batch of images, one image per call."""
    rows = []
    for image in batch:
        z = logits(image)
        e = np.exp(z - z.max())
        rows.append(e / e.sum())
    return np.array(rows)


def score(outputs: dict[str, tf.Tensor], target: int, on: str) -> tf.Tensor:
    """Class ``target``'s logit, or its softmax probability, for the one image of the batch."""
    z = outputs["logits"][0]
    return tf.nn.softmax(z)[target] if on == "probability" else z[target]


def layer_gradient(image: np.ndarray, layer: str, target: int, on: str = "logit"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The layer's activations ``A`` and the gradient ``G = d score / d A``, both ``(h, w, C)``."""
    x = tf.constant(image[None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)  # so that the tape records every tensor computed from it, A included
        outputs = forward(x)
        activations = outputs[layer]
        value = score(outputs, target, on)
    gradient = tape.gradient(value, activations)
    return activations[0].numpy().astype(np.float64), gradient[0].numpy().astype(np.float64)


def input_gradient(image: np.ndarray, target: int, rule: str = "plain", on: str = "logit"
                   ) -> np.ndarray:
    """``d score / d pixels`` ``(4, 4, 3)`` with every ReLU passing gradients back by ``rule``."""
    x = tf.constant(image[None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = score(forward(x, RELUS[rule]), target, on)
    return tape.gradient(value, x)[0].numpy().astype(np.float64)


# --------------------------------------------------------------------------- maps


def scaled(raw: np.ndarray) -> np.ndarray:
    """Rectified and divided by the maximum; all zeros stay zeros."""
    rectified = np.maximum(raw, 0.0)
    peak = rectified.max()
    return rectified / peak if peak > 0 else rectified


def magnitude(gradient: np.ndarray) -> np.ndarray:
    """``max_c |g_c|`` per pixel, scaled by its maximum."""
    return scaled(np.abs(gradient).max(axis=-1))


def bilinear(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(h, w)`` to ``size``: pixel centres aligned (half-pixel), samples
    outside the grid clamped to its edge."""
    def taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centre = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        centre = np.clip(centre, 0.0, n_in - 1)
        low = np.floor(centre).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, centre - low

    r0, r1, fr = taps(size[0], values.shape[0])
    c0, c1, fc = taps(size[1], values.shape[1])
    rows = values[r0] * (1 - fr)[:, None] + values[r1] * fr[:, None]
    return rows[:, c0] * (1 - fc) + rows[:, c1] * fc


def gradcam(image: np.ndarray, layer: str, target: int, on: str = "logit") -> np.ndarray:
    """Grad-CAM: channel weight = the gradient's spatial mean."""
    a, g = layer_gradient(image, layer, target, on)
    return scaled(a @ g.mean(axis=(0, 1)))


def gradcam_plus_plus(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """Grad-CAM++: weight = sum_ij alpha_ij ReLU(g_ij), alpha = g² / (2 g² + sum_ab A_ab g³)."""
    a, g = layer_gradient(image, layer, target)
    weights = np.zeros(a.shape[-1])
    for c in range(a.shape[-1]):
        total = a[..., c].sum()
        for i, j in np.ndindex(*a.shape[:2]):
            gij = g[i, j, c]
            denominator = 2 * gij**2 + total * gij**3
            alpha = gij**2 / denominator if denominator != 0 else 0.0
            weights[c] += alpha * max(gij, 0.0)
    return scaled(a @ weights)


def layercam(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """Layer-CAM: sum_c ReLU(g_c) · A_c, pixel by pixel."""
    a, g = layer_gradient(image, layer, target)
    return scaled((np.maximum(g, 0.0) * a).sum(axis=-1))


def eigencam(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """Eigen-CAM (class-agnostic): the activations on the first right-singular vector of the
    centred activations, signed to correlate positively with the mean activation."""
    a = forward(tf.constant(image[None], tf.float32))[layer][0].numpy().astype(np.float64)
    flat = a.reshape(-1, a.shape[-1])
    _, _, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
    projection = flat @ vt[0]
    if np.corrcoef(projection, flat.mean(axis=1))[0, 1] < 0:
        projection = -projection
    return scaled(projection.reshape(a.shape[:2]))


def scorecam(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """Score-CAM: each channel, upsampled and min–max scaled, masks the input; the weights are
    the softmax of the masked inputs' probabilities of the class, scored one at a time."""
    a = forward(tf.constant(image[None], tf.float32))[layer][0].numpy().astype(np.float64)
    pixels = image.astype(np.float64)
    scores = []
    for c in range(a.shape[-1]):
        mask = bilinear(a[..., c], pixels.shape[:2])
        span = mask.max() - mask.min()
        mask = (mask - mask.min()) / span if span > 0 else np.zeros_like(mask)
        scores.append(probabilities((pixels * mask[..., None])[None])[0, target])
    weights = np.exp(np.array(scores) - max(scores))
    weights /= weights.sum()
    return scaled(a @ weights)


def saliency(image: np.ndarray, layer: str, target: int, on: str = "logit") -> np.ndarray:
    """Vanilla gradient saliency."""
    return magnitude(input_gradient(image, target, "plain", on))


def smoothgrad(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """SmoothGrad: the plain gradient averaged over seeded noisy copies."""
    pixels = image.astype(np.float64)
    spread = SMOOTHGRAD_NOISE * (pixels.max() - pixels.min())
    draws = np.random.default_rng(SMOOTHGRAD_SEED).normal(
        0.0, 1.0, (SMOOTHGRAD_SAMPLES, *pixels.shape))
    copies = (pixels + spread * draws).astype(np.float32)
    return magnitude(np.mean([input_gradient(copy, target) for copy in copies], axis=0))


def guided_backprop(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """Guided backpropagation, shown as max_c |·|."""
    return magnitude(input_gradient(image, target, "guided"))


def deconvnet(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """The deconvnet's projection of a class score, shown as max_c |·|."""
    return magnitude(input_gradient(image, target, "deconvnet"))


def guided_gradcam(image: np.ndarray, layer: str, target: int) -> np.ndarray:
    """Guided backpropagation times the layer's Grad-CAM upsampled bilinearly to the input."""
    guided = input_gradient(image, target, "guided")
    cam = bilinear(gradcam(image, layer, target), guided.shape[:2])
    return magnitude(guided * cam[..., None])


#: Every method of the registry, by its registered name.
REFERENCES: dict[str, Callable[[np.ndarray, str, int], np.ndarray]] = {
    "gradcam": gradcam,
    "gradcam++": gradcam_plus_plus,
    "layercam": layercam,
    "eigencam": eigencam,
    "scorecam": scorecam,
    "saliency": saliency,
    "smoothgrad": smoothgrad,
    "guided backprop": guided_backprop,
    "guided gradcam": guided_gradcam,
    "deconvnet": deconvnet,
}
