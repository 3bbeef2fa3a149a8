"""Explanations in pixel space from input gradients: saliency, SmoothGrad, guided backprop.

:class:`InputGradients` differentiates a target's score (the targets and scores of the CAMs:
the logit by default, the probability on request) with respect to the input pixels, for a batch
of inputs at once, through one function traced once. ReLUs can back-propagate by the plain rule
of autodiff, the guided rule or the deconvnet rule (:func:`relu_backward_rule`), swapped in only
while the function is traced, so the user's model is never left modified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .gradients import model_outputs, squash
from .images import ImageInput, ImageSource
from .layer_edits import Edit, editing, logits_edit
from .layers import LayerInfo
from .maps import normalize_map
from .protocol import ModelProbe
from .render import deprocess_image
from .targets import BinaryTarget, ClassTarget, Target, resolve_target, target_weights

Progress = Callable[[int, int], Any]

RULES = ("plain", "guided", "deconvnet")
_RELU_FUNCTIONS = (keras.activations.relu, keras.ops.relu, tf.nn.relu)


@tf.custom_gradient
def guided_relu(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """ReLU passing back only positive gradients at positive inputs (Springenberg et al., 2015)."""

    def backward(upstream: tf.Tensor) -> tf.Tensor:
        keep = tf.logical_and(upstream > 0, x > 0)
        return tf.where(keep, upstream, tf.zeros_like(upstream))

    return tf.nn.relu(x), backward


@tf.custom_gradient
def deconvnet_relu(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """ReLU whose backward pass rectifies the gradient itself, whatever the forward input's sign.

    The deconvnet's rectification (Zeiler & Fergus, 2014, arXiv:1311.2901).
    """

    def backward(upstream: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(upstream)

    return tf.nn.relu(x), backward


_RULE_RELUS = {"guided": guided_relu, "deconvnet": deconvnet_relu}


def _is_plain_relu_layer(layer: Any) -> bool:
    return (isinstance(layer, keras.layers.ReLU) and not layer.negative_slope
            and not layer.threshold and layer.max_value is None)


def _relu_call(relu: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return relu(inputs)

    return call


def relu_edits(layers: Sequence[LayerInfo], rule: str) -> list[Edit]:
    """The edits that make every ReLU among ``layers`` back-propagate by ``rule``.

    Edited: Conv/Dense/Activation layers whose ``activation`` is ReLU, and
    ``keras.layers.ReLU`` layers without slope, threshold or cap. Other activations (LeakyReLU,
    relu6, ELU, …) keep their own gradient. The forward pass is unchanged.
    """
    if rule not in RULES:
        raise ValueError(f"unknown backward rule {rule!r}; use one of {', '.join(RULES)}.")
    if rule == "plain":
        return []
    relu = _RULE_RELUS[rule]
    edits = []
    for info in layers:
        layer = info.layer
        activation = getattr(layer, "activation", None)
        if any(activation is relu_function for relu_function in _RELU_FUNCTIONS):
            edits.append(Edit(layer, activation=relu))
        elif _is_plain_relu_layer(layer):
            edits.append(Edit(layer, replace_call=_relu_call(relu)))
    return edits


@contextmanager
def relu_backward_rule(layers: Sequence[LayerInfo], rule: str) -> Iterator[int]:
    """Within the block, every ReLU among ``layers`` back-propagates by ``rule`` (in the calling
    thread only; see :mod:`.layer_edits`); yields how many ReLUs were swapped.

    Parameters
    ----------
    layers : sequence of LayerInfo
        Usually ``probe.layers``: leaf layers, nested models included.
    rule : str
        ``"guided"`` (:func:`guided_relu`), ``"deconvnet"`` (:func:`deconvnet_relu`) or
        ``"plain"`` (swaps nothing).
    """
    with editing(relu_edits(layers, rule)) as swapped:
        yield swapped


def graph_preprocess_problem(preprocess: Callable[[Any], Any] | None, pixels: np.ndarray,
                             expected: np.ndarray) -> str | None:
    """Why ``preprocess`` cannot be differentiated as TensorFlow ops, or None when it can.

    It can when, applied to a tensor, it returns a tensor that depends differentiably on the
    input and equals ``expected`` (its result on the numpy batch ``pixels``).
    """
    if preprocess is None:
        return None
    tensor = tf.constant(pixels, tf.float32)
    try:
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            result = preprocess(tensor)
        if not tf.is_tensor(result):
            return f"it returns {type(result).__name__}, not a tensor, for a tensor input"
        if tape.gradient(result, tensor) is None:
            return "its output does not depend differentiably on its input"
        values = np.asarray(result, np.float32).reshape(expected.shape)
    except Exception as err:  # a numpy-only function may fail on tensors in any way
        return f"it fails on a tensor input ({type(err).__name__}: {err})"
    if not np.allclose(values, expected, rtol=1e-5, atol=1e-3):
        return "its result on a tensor differs from its result on a numpy array"
    return None


def _as_batch(values: tf.Tensor) -> tf.Tensor:
    values = tf.cast(values, tf.float32)
    return values[None] if values.shape.rank == 3 else values


class InputGradients:
    """Gradients of a target's score with respect to the input, for many inputs in one call.

    The function is built and traced once, lazily, and reused for every image, target and
    batch size. Gradients are taken on the 0–255 pixels *before* the probe's ``preprocess``
    when that function works on tensors (``keras.applications`` ones do); a numpy-only
    ``preprocess`` cannot be differentiated, so gradients are then taken with respect to the
    preprocessed input instead: :attr:`space` says which, :attr:`preprocess_note` why.

    Parameters
    ----------
    probe : ModelProbe
        Supplies the model, its preprocessing, its layers and image preparation.
    rule : str
        How ReLUs pass gradients back: ``"plain"`` (autodiff), ``"guided"`` (Springenberg et
        al., 2015, arXiv:1412.6806) or ``"deconvnet"`` (Zeiler & Fergus, 2014,
        arXiv:1311.2901); see :func:`relu_backward_rule`.
    output : int or str, optional
        The output explained, for models with several.

    Attributes
    ----------
    space : str or None
        ``"pixels"`` or ``"preprocessed"``; None until first use.
    calls : int
        Calls of the traced function so far (each one batched).
    """

    def __init__(self, probe: ModelProbe, rule: str = "plain",
                 output: int | str | None = None) -> None:
        if rule not in RULES:
            raise ValueError(f"unknown backward rule {rule!r}; use one of {', '.join(RULES)}.")
        self.probe = probe
        self.rule = rule
        self.head = probe.head(output)
        self.space: str | None = None
        self.preprocess_note: str | None = None
        self.calls = 0
        self._function: Any = None
        self._concrete: Any = None

    @property
    def traces(self) -> int:
        """How many times the gradient function was traced (1 once built)."""
        return 0 if self._function is None else self._function.experimental_get_tracing_count()

    def start(self, image: ImageSource | ImageInput) -> tuple[ImageInput, np.ndarray]:
        """The prepared image and the point ``(1, H, W, C)`` (in :attr:`space`) to start from."""
        prepared = self.probe.prepare(image)
        if self._concrete is None:
            self._build(prepared)
        if self.space == "pixels":
            return prepared, np.array(prepared.pixels[None], np.float32)
        return prepared, self.probe.model_input(prepared)

    def resolve(self, image: ImageSource | ImageInput, target: Any = None) -> Target:
        """A checked :class:`ClassTarget` or :class:`BinaryTarget` (None: the top class)."""
        prediction = None
        if target is None and not self.head.binary:
            prediction = self.probe.predict(self.probe.prepare(image), self.head.index)
        resolved = resolve_target(target, self.head, prediction)
        if not isinstance(resolved, (ClassTarget, BinaryTarget)):
            raise ValueError(f"{resolved} is scored on a layer; input gradients explain a class.")
        return resolved

    def batch(self, inputs: np.ndarray, target: Any) -> np.ndarray:
        """Gradients ``(N, H, W, C)`` of ``target``'s score at each of ``inputs``, in :attr:`space`.

        Call :meth:`start` (or :meth:`gradient`) once first: it decides the space.
        """
        if self._concrete is None:
            raise RuntimeError("call start(image) first: it decides which space inputs are in.")
        resolved = resolve_target(target, self.head)
        inputs = np.asarray(inputs, np.float32)
        weights = np.repeat(target_weights([resolved], self.head), len(inputs), axis=0)
        zeros = np.zeros_like(weights)
        on_probability = resolved.on == "probability"
        _, gradients = self._concrete(
            tf.constant(inputs),
            tf.constant(zeros if on_probability else weights),
            tf.constant(weights if on_probability else zeros),
        )
        self.calls += 1
        return np.array(gradients, np.float32)

    def gradient(self, image: ImageSource | ImageInput, target: Any = None) -> np.ndarray:
        """The gradient ``(H, W, C)`` float32 of ``target``'s score at ``image``."""
        prepared, point = self.start(image)
        return self.batch(point, self.resolve(prepared, target))[0]

    def smooth(self, image: ImageSource | ImageInput, target: Any = None, samples: int = 25,
               noise: float = 0.15, seed: int | None = 0, batch_size: int = 32,
               progress: Progress | None = None) -> np.ndarray:
        """The mean gradient ``(H, W, C)`` over noisy copies of ``image`` (SmoothGrad).

        Smilkov et al., 2017, arXiv:1706.03825: copies get Gaussian noise of standard deviation
        ``noise × (max − min)`` of the input (in :attr:`space`); all copies are drawn at once
        from ``seed``, so the result does not depend on ``batch_size``, and are differentiated
        ``batch_size`` at a time; ``progress(done, total)`` is called after each batch (it may
        raise to stop).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        prepared, point = self.start(image)
        resolved = self.resolve(prepared, target)
        copies = noisy_copies(point[0], samples, noise, seed)
        total = np.zeros(point.shape[1:], np.float64)
        for first in range(0, samples, batch_size):
            total += self.batch(copies[first : first + batch_size], resolved).sum(axis=0)
            if progress is not None:
                progress(min(first + batch_size, samples), samples)
        return (total / samples).astype(np.float32)

    def _build(self, image: ImageInput) -> None:
        probe, head = self.probe, self.head
        preprocess = probe.preprocess
        self.preprocess_note = graph_preprocess_problem(
            preprocess, np.array(image.pixels[None]), probe.model_input(image))
        through = preprocess is not None and self.preprocess_note is None
        space = "pixels" if preprocess is None or through else "preprocessed"
        model = probe.model
        logits_edits = [logits_edit(head.layer)] if head.squashing else []

        def scores_and_gradients(inputs: tf.Tensor, logit_weights: tf.Tensor,
                                 probability_weights: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                model_input = _as_batch(preprocess(inputs)) if through and preprocess else inputs
                with editing(logits_edits):
                    logits = model_outputs(model, model_input, head)
                scores = tf.reduce_sum(logits * logit_weights
                                       + squash(head, logits) * probability_weights, axis=-1)
            return scores, tf.cast(tape.gradient(scores, inputs), tf.float32)

        spec = probe.input_spec
        weights = tf.TensorSpec((None, head.units), tf.float32)
        function = tf.function(scores_and_gradients, input_signature=[
            tf.TensorSpec((None, spec.height, spec.width, spec.channels), tf.float32),
            weights, weights])
        # The rule is part of the traced graph; a concrete function never retraces, so the
        # ReLUs need to be swapped only this once (and only in this thread).
        with relu_backward_rule(probe.layers, self.rule):
            concrete = function.get_concrete_function()
        self._function, self._concrete, self.space = function, concrete, space


def noisy_copies(point: np.ndarray, samples: int, noise: float, seed: int | None = 0
                 ) -> np.ndarray:
    """``samples`` copies of ``point`` with Gaussian noise of std ``noise × (max − min)``."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}.")
    if noise < 0:
        raise ValueError(f"noise is a fraction of the input's range, not negative: {noise}.")
    spread = noise * float(point.max() - point.min())
    draws = np.random.default_rng(seed).normal(0.0, 1.0, (samples, *point.shape))
    return (point[None] + spread * draws).astype(np.float32)


def input_gradients(probe: ModelProbe, rule: str = "plain", output: int | str | None = None
                    ) -> InputGradients:
    """The probe's shared :class:`InputGradients` for ``rule``, so its function is traced once."""
    return probe.explainer(output).input_gradients(rule)


def saliency_map(gradient: np.ndarray) -> np.ndarray:
    """``max_c |gradient|`` as an ``(H, W)`` float32 map scaled to [0, 1] by its maximum."""
    return normalize_map(np.abs(gradient).max(axis=-1))


def vanilla_saliency(probe: ModelProbe, image: ImageSource | ImageInput, target: Any = None,
                     output: int | str | None = None) -> np.ndarray:
    """Gradient saliency map (Simonyan et al., 2014, arXiv:1312.6034), ``(H, W)`` in [0, 1].

    ``max_c |d score / d x_c|`` per pixel, scaled by its maximum (the paper does not scale).
    ``target``: a class index, ``"positive"``/``"negative"`` for a single sigmoid unit, a
    :class:`ClassTarget`/:class:`BinaryTarget`, or None for the predicted class; scores are
    logits unless the target asks for the probability.
    """
    return saliency_map(input_gradients(probe, output=output).gradient(image, target))


def smoothgrad(probe: ModelProbe, image: ImageSource | ImageInput, target: Any = None,
               samples: int = 25, noise: float = 0.15, seed: int | None = 0,
               batch_size: int = 32, output: int | str | None = None) -> np.ndarray:
    """SmoothGrad (Smilkov et al., 2017, arXiv:1706.03825): the saliency map of the mean gradient.

    The gradient is averaged over ``samples`` noisy copies (noise std = ``noise × (max − min)``
    of the input, the paper's 10–20 %), then shown as :func:`vanilla_saliency` is: ``(H, W)``
    in [0, 1]. Deterministic for a given ``seed``; copies are differentiated ``batch_size`` at
    a time. The signed mean gradient is :meth:`InputGradients.smooth`.
    """
    gradient = input_gradients(probe, output=output).smooth(image, target, samples, noise, seed,
                                                            batch_size)
    return saliency_map(gradient)


def guided_backprop(probe: ModelProbe, image: ImageSource | ImageInput, target: Any = None,
                    output: int | str | None = None) -> np.ndarray:
    """Guided backpropagation (Springenberg et al., 2015, arXiv:1412.6806): ``(H, W, C)`` float32.

    The signed gradient of the target's score where every ReLU passes back only positive
    gradients at positive inputs; see :func:`relu_backward_rule` for which ReLUs. Show it with
    :func:`deprocess`. The paper explains a neuron's activation; here the score is a class logit
    by default, as for Grad-CAM.
    """
    return input_gradients(probe, "guided", output).gradient(image, target)


def guided_gradcam(probe: ModelProbe, image: ImageSource | ImageInput, layer: Any,
                   target: Any = None, output: int | str | None = None) -> np.ndarray:
    """Guided Grad-CAM (Selvaraju et al., 2017, arXiv:1610.02391): ``(H, W, C)`` float32.

    Guided backpropagation times the Grad-CAM of ``layer`` upsampled (bilinearly) to the input
    size, both for the same target (the paper's pointwise product).
    """
    explainer = input_gradients(probe, "guided", output)
    prepared = probe.prepare(image)
    resolved = explainer.resolve(prepared, target)
    guided = explainer.gradient(prepared, resolved)
    cam = probe.explainer(output).explain(prepared, layer, resolved, "gradcam").upsampled
    return (guided * cam[..., None]).astype(np.float32)


def deprocess(values: np.ndarray) -> np.ndarray:
    """A signed map as uint8 for display: seed S2's ``deprocess_image`` (centre, scale to std
    0.1, shift to 0.5, clip, × 255), the same function the filter patterns use."""
    return deprocess_image(values)
