"""The step loop of activation maximization: one compiled step for a whole batch of filters.

Seed S2 (Chollet, *Deep Learning with Python* §5.4, after Erhan et al., 2009, "Visualizing
Higher-Layer Features of a Deep Network") runs gradient ascent on the input, one filter at a
time, through the whole network. Here:

- the model runs only up to the objective's layers (:mod:`.truncate`);
- a batch of images is optimized at once, image ``i`` for its own target (``channels(layer,
  filters)``), in one ``tf.function`` traced once per objective *shape* and image size: the
  filter indices are tensors, so the next page of filters reuses the compiled step;
- S2's update, per image: ``params += step_size × g / (RMS(g) + 1e-5)``;
- every image starts from the same seeded parameters and sees the same random transforms, so
  each image's trajectory depends only on its own objective: a filter's pattern is the same
  computed alone or within any batch (to float rounding), and cached patterns are
  interchangeable.

:func:`optimize_steps` yields a :class:`StepRecord` after every step, checks a cancel flag before
every step, and honours ``CONVVIZ_MAX_STEPS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from ..cache import PerModel
from ..layers import LayerInfo, discover_layers, resolve_layer
from ..model_spec import check_model
from ..render import deprocess_image
from ..weights import weights_watch
from .objectives import Objective, evaluate_terms
from .regularizers import total_penalty
from .settings import TUTORIAL, FeatVisSettings, preset
from .transforms import IDENTITY, apply_matrix, draw_matrix
from .truncate import bfloat16_clone, layers_by_path, truncated_forward

Cancel = Callable[[], bool] | Any  # a callable, or anything with ``is_set()`` (threading.Event)




def to_display(images: np.ndarray, display: str) -> np.ndarray:
    """Images on the 0–255 scale as uint8: S2's ``deprocess_image`` or rounded and clipped."""
    if display == "deprocess":
        return deprocess_image(images)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def dead_mask(history: np.ndarray) -> np.ndarray:
    """Images whose objective was exactly 0 at every step (``history`` is (steps, N))."""
    if history.shape[0] == 0:
        return np.zeros(history.shape[1:], bool)
    return np.all(history == 0, axis=0)


@dataclass(frozen=True)
class StepRecord:
    """Progress after one step.

    Attributes
    ----------
    step : int
        Steps done so far (1 after the first).
    steps : int
        Steps planned for this run.
    values : numpy.ndarray
        Objective ``(N,)`` per image, evaluated during this step (before its update, on the
        transformed image).
    history : numpy.ndarray
        ``values`` of every step so far ``(step, N)``.
    tensor : tf.Tensor
        The current images; :attr:`images` converts them only when asked.
    """

    step: int
    steps: int
    values: np.ndarray
    history: np.ndarray
    tensor: Any = field(repr=False)

    @property
    def images(self) -> np.ndarray:
        """Current images ``(N, H, W, C)`` float32 on the model's input scale (after the step)."""
        return np.asarray(self.tensor)

    @property
    def done(self) -> bool:
        """Whether this was the last step."""
        return self.step >= self.steps

    @property
    def dead(self) -> np.ndarray:
        """Images whose objective has stayed exactly 0 so far (dead filters)."""
        return dead_mask(self.history)


@dataclass(frozen=True)
class FeatVisResult:
    """The outcome of a run: images, objective curves, dead filters."""

    images: np.ndarray
    history: np.ndarray
    steps: int
    display: str = "deprocess"

    @property
    def cancelled(self) -> bool:
        """Whether the run stopped before its planned steps."""
        return self.history.shape[0] < self.steps

    @property
    def dead(self) -> np.ndarray:
        """Images whose objective stayed exactly 0 throughout: report, do not show as patterns."""
        return dead_mask(self.history)

    def pixels(self) -> np.ndarray:
        """The images as uint8 for display (see :attr:`FeatVisSettings.display`)."""
        return to_display(self.images, self.display)


def _cancelled(cancel: Cancel | None) -> bool:
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    return bool(is_set() if is_set is not None else cancel())


class FeatureVisualizer:
    """Activation maximization for a model: compiled steps built lazily, reused across pages.

    Parameters
    ----------
    model : keras.Model
        Sequential, functional, nested or subclassed; never modified (the target layers'
        ``call`` is wrapped only while a step is traced).
    preprocess : callable, optional
        Applied to the images (0–255 scale) inside the step, before the model; must accept
        tensors (``keras.applications.*.preprocess_input`` do).
    input_shape : (height, width, channels), optional
        For subclassed models whose input size Keras cannot tell.

    Examples
    --------
    >>> from convviz_widgets import zoo
    >>> from convviz_widgets.engine.featvis import channels, TUTORIAL
    >>> visualizer = FeatureVisualizer(zoo.load_model("shapes"))
    >>> result = visualizer.run(channels("block2_conv1", range(8)), TUTORIAL.replace(steps=3))
    >>> result.images.shape, result.dead.shape
    ((8, 64, 64, 3), (8,))
    """

    def __init__(self, model: Any, preprocess: Callable[[Any], Any] | None = None, *,
                 input_shape: tuple[int | None, ...] | None = None) -> None:
        self.model = model
        self.preprocess = preprocess
        self.input_spec = check_model(model, input_shape)
        self._layers = discover_layers(model)
        self.weights = weights_watch(model)
        self._models: dict[str, tuple[Any, dict[str, LayerInfo], int]] = {}
        self._functions: dict[tuple, Any] = {}
        self.step_calls = 0
        self.traces = 0

    def layer(self, key: LayerInfo | str | int) -> LayerInfo:
        """Find a layer by path, unique name or index."""
        return resolve_layer(self._layers, key)

    def image_shape(self, settings: FeatVisSettings | str = TUTORIAL) -> tuple[int, int, int]:
        """``(H, W, C)`` of the optimized images: the model's size, or ``settings.size``."""
        spec, size = self.input_spec, preset(settings).size
        return (spec.height or size, spec.width or size, spec.channels)

    def initial_images(self, settings: FeatVisSettings | str = TUTORIAL, batch: int = 1
                       ) -> np.ndarray:
        """The images every run with these settings starts from ``(batch, H, W, C)``."""
        settings = preset(settings)
        params = self._initial_params(settings, batch)
        return np.asarray(settings.parameterization.to_image(params, *self.image_shape(settings)))

    def steps(self, objective: Objective, settings: FeatVisSettings | str = TUTORIAL, *,
              cancel: Cancel | None = None) -> Iterator[StepRecord]:
        """Run the optimization, yielding a :class:`StepRecord` after each step.

        ``cancel`` (a callable returning True, or a ``threading.Event``) is checked before every
        step: once set, no further step runs. Settings are checked here, before the first step.
        """
        settings = preset(settings)
        function, data = self._prepare(objective, settings)
        params = self._initial_params(settings, objective.batch_size())
        return self._iterate(function, data, params, settings, cancel)

    def run(self, objective: Objective, settings: FeatVisSettings | str = TUTORIAL, *,
            cancel: Cancel | None = None) -> FeatVisResult:
        """Run to the end (or until cancelled) and return the result."""
        settings = preset(settings)
        last: StepRecord | None = None
        for record in self.steps(objective, settings, cancel=cancel):
            last = record
        if last is None:
            images = self.initial_images(settings, objective.batch_size())
            history = np.zeros((0, images.shape[0]), np.float32)
        else:
            images, history = last.images, last.history
        return FeatVisResult(images=images, history=history, steps=settings.effective_steps,
                             display=settings.display)

    def evaluate(self, objective: Objective, images: np.ndarray, dtype: str = "float32"
                 ) -> np.ndarray:
        """The objective ``(N,)`` of images on the 0–255 scale, without transforms."""
        targets, structure = self._targets(objective, dtype)
        key = ("evaluate", structure, dtype)
        if key not in self._functions:
            forward = truncated_forward(self._model(dtype)[0], targets, self.preprocess)
            self._functions[key] = tf.function(
                lambda batch, data: evaluate_terms(structure, forward(batch), data))
        batch = np.asarray(images, np.float32)
        data = tuple(tf.constant(a) for a in objective.data(batch.shape[0]))
        return np.asarray(self._functions[key](tf.constant(batch), data))

    def _model(self, dtype: str) -> tuple[Any, dict[str, LayerInfo]]:
        version = self.weights.check()
        if dtype not in self._models:
            model = self.model if dtype == "float32" else bfloat16_clone(self.model)
            self._models[dtype] = (model, layers_by_path(model), version)
        model, layers, copied = self._models[dtype]
        if model is not self.model and copied != version:
            # A bfloat16 copy holds its own weights: bring it up to the model's.
            model.set_weights(self.model.get_weights())
            self._models[dtype] = (model, layers, version)
        return model, layers

    def _targets(self, objective: Objective, dtype: str
                 ) -> tuple[dict[str, LayerInfo], tuple[tuple[str, str], ...]]:
        infos = {name: self.layer(name) for name in objective.layers}
        objective.check_channels({name: info.channels for name, info in infos.items()})
        paths = {name: info.path for name, info in infos.items()}
        _, by_path = self._model(dtype)
        targets = {info.path: by_path[info.path] for info in infos.values()}
        return targets, objective.structure(paths)

    def _initial_params(self, settings: FeatVisSettings, batch: int) -> tf.Tensor:
        rng = np.random.default_rng([settings.seed, 0])
        one = settings.parameterization.initial(rng, *self.image_shape(settings))
        return tf.constant(np.broadcast_to(one, (batch, *one.shape)))

    def _prepare(self, objective: Objective, settings: FeatVisSettings) -> tuple[Any, tuple]:
        targets, structure = self._targets(objective, settings.dtype)
        shape = self.image_shape(settings)
        key = (structure, settings.parameterization, bool(settings.transforms),
               settings.regularizers, settings.dtype, shape)
        if key not in self._functions:
            model = self._model(settings.dtype)[0]
            self._functions[key] = self._build_step(model, targets, structure, settings, shape)
        data = tuple(tf.constant(a) for a in objective.data(objective.batch_size()))
        return self._functions[key], data

    def _build_step(self, model: Any, targets: dict[str, LayerInfo],
                    structure: tuple[tuple[str, str], ...], settings: FeatVisSettings,
                    shape: tuple[int, int, int]) -> Any:
        forward = truncated_forward(model, targets, self.preprocess)
        parameterization, regularizers = settings.parameterization, settings.regularizers
        transformed = bool(settings.transforms)

        def step(params: tf.Tensor, matrix: tf.Tensor, step_size: tf.Tensor, data: tuple
                 ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            self.traces += 1  # runs only while tracing
            with tf.GradientTape() as tape:
                tape.watch(params)
                images = parameterization.to_image(params, *shape)
                seen = apply_matrix(images, matrix) if transformed else images
                values = evaluate_terms(structure, forward(seen), data)
                penalty = total_penalty(regularizers, images)
                gain = values if penalty is None else values - penalty
                # Images do not interact, so the gradient of the sum is each image's own.
                total = tf.reduce_sum(gain)
            gradient = tape.gradient(total, params)
            axes = list(range(1, params.shape.rank))
            rms = tf.sqrt(tf.reduce_mean(tf.square(gradient), axis=axes, keepdims=True))
            params = params + step_size * gradient / (rms + 1e-5)
            return params, values, parameterization.to_image(params, *shape)

        one = settings.parameterization.initial(np.random.default_rng(0), *shape)
        signature = [
            tf.TensorSpec((None, *one.shape), tf.float32),
            tf.TensorSpec((8,), tf.float32),
            tf.TensorSpec((), tf.float32),
            tuple(spec for _ in structure for spec in (tf.TensorSpec((None,), tf.int32),
                                                        tf.TensorSpec((None,), tf.float32))),
        ]
        return tf.function(step, input_signature=signature)

    def _iterate(self, function: Any, data: tuple, params: tf.Tensor,
                 settings: FeatVisSettings, cancel: Cancel | None) -> Iterator[StepRecord]:
        total = settings.effective_steps
        height, width, _ = self.image_shape(settings)
        rng = np.random.default_rng([settings.seed, 1])
        step_size = tf.constant(settings.step_size, tf.float32)
        history: list[np.ndarray] = []
        for index in range(total):
            if _cancelled(cancel):
                return
            matrix = (draw_matrix(settings.transforms, rng, height, width)
                      if settings.transforms else IDENTITY)
            params, values, images = function(params, tf.constant(matrix), step_size, data)
            self.step_calls += 1
            history.append(np.asarray(values))
            yield StepRecord(step=index + 1, steps=total, values=history[-1],
                             history=np.stack(history), tensor=images)


_SHARED: PerModel[FeatureVisualizer] = PerModel(FeatureVisualizer)


def visualizer_for(model: Any, preprocess: Callable[[Any], Any] | None = None
                   ) -> FeatureVisualizer:
    """The one :class:`FeatureVisualizer` of ``(model, preprocess)``, so compiled steps are shared.

    ``model`` may also be an :class:`~convviz_widgets.engine.probe.ActivationProbe`, whose
    model and preprocessing are then used.
    """
    from ..probe import ActivationProbe

    if isinstance(model, ActivationProbe):
        model, preprocess = model.model, preprocess or model.preprocess
    return _SHARED.get(model, preprocess)


def optimize_steps(model: Any, objective: Objective,
                   settings: FeatVisSettings | str = TUTORIAL, *,
                   preprocess: Callable[[Any], Any] | None = None,
                   cancel: Cancel | None = None) -> Iterator[StepRecord]:
    """Optimize ``objective`` on ``model``, yielding a :class:`StepRecord` after each step.

    See :meth:`FeatureVisualizer.steps`; the visualizer (and its compiled steps) is shared per
    model and preprocessing function.
    """
    return visualizer_for(model, preprocess).steps(objective, settings, cancel=cancel)


def visualize(model: Any, objective: Objective, settings: FeatVisSettings | str = TUTORIAL, *,
              preprocess: Callable[[Any], Any] | None = None,
              cancel: Cancel | None = None) -> FeatVisResult:
    """Optimize ``objective`` on ``model`` to the end and return the result."""
    return visualizer_for(model, preprocess).run(objective, settings, cancel=cancel)
