"""Every registered explanation method for one output of a model, through one entry point.

An :class:`Explainer` owns what the methods share, each built once and lazily: the batched layer
gradients, the input gradients of each ReLU rule, the scorer of masked inputs; and one cache of
finished maps bounded by bytes, keyed by the weights' version, the image, the layer, the target
and the method. ``probe.cam(...)`` and the widgets go through :meth:`Explainer.explain`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from .cache import ByteLRU
from .cam import CAMMethod, CAMResult, Method, Request, get_method
from .gradients import LayerGradients
from .images import ImageInput, ImageSource
from .layers import LayerInfo
from .protocol import LayerKey, ModelProbe
from .saliency import InputGradients
from .scorer import Scorer
from .targets import Target, resolve_target

Progress = Callable[[int, int], Any]


class Explainer:
    """Explanations of one output of ``probe``'s model, by any method of the registry.

    Parameters
    ----------
    probe : ModelProbe
    output : int or str, optional
        The output explained, for models with several.
    cache_bytes : int
        Memory budget of the finished maps (default 64 MiB).

    Examples
    --------
    >>> from convviz_widgets import zoo
    >>> from convviz_widgets.engine.probe import ActivationProbe
    >>> explainer = ActivationProbe(zoo.load_model("shapes")).explainer()
    >>> star = zoo.load_image("star")
    >>> explainer.explain(star, "block4_conv2", 3, "gradcam").map.shape
    (16, 16)
    >>> explainer.explain(star, "block4_conv2", 3, "saliency").map.shape
    (64, 64)
    """

    def __init__(self, probe: ModelProbe, output: int | str | None = None,
                 cache_bytes: int = 64 * 2**20) -> None:
        self.probe = probe
        self.head = probe.head(output)
        self._layer_gradients: LayerGradients | None = None
        self._input_gradients: dict[str, InputGradients] = {}
        self._scorer: Scorer | None = None
        self._results: ByteLRU[CAMResult] = ByteLRU(cache_bytes)
        self._building = threading.RLock()

    @property
    def layer_gradients(self) -> LayerGradients:
        """Activations and class-score gradients of every conv layer, batched and cached."""
        with self._building:
            if self._layer_gradients is None:
                self._layer_gradients = LayerGradients(self.probe, self.head.index)
            return self._layer_gradients

    def input_gradients(self, rule: str = "plain") -> InputGradients:
        """Input gradients with ReLU backward rule ``rule``, traced once."""
        with self._building:
            if rule not in self._input_gradients:
                self._input_gradients[rule] = InputGradients(self.probe, rule, self.head.index)
            return self._input_gradients[rule]

    def scorer(self) -> Scorer:
        """Class probabilities of batches of model inputs, traced once."""
        with self._building:
            if self._scorer is None:
                self._scorer = Scorer(self.probe, self.head)
            return self._scorer

    @property
    def layers(self) -> list[LayerInfo]:
        """The conv layers every layer-resolution method can explain."""
        return [info for info in self.probe.spatial_layers if info.kind == "conv"]

    @property
    def cache(self) -> ByteLRU[CAMResult]:
        """The finished maps (``len``, ``nbytes``)."""
        return self._results

    def target(self, image: ImageSource | ImageInput, target: Any = None) -> Target:
        """A checked target for ``image`` (None: the predicted class)."""
        prediction = None
        if target is None and not self.head.binary:
            prediction = self.probe.predict(image, self.head.index)
        return resolve_target(target, self.head, prediction)

    def explain(self, image: ImageSource | ImageInput, layer: LayerKey | None = None,
                target: Any = None, method: str | Method = "gradcam", *,
                progress: Progress | None = None, cancel: Callable[[], bool] | None = None
                ) -> CAMResult:
        """The map of ``method`` for ``target`` on ``image`` at ``layer`` (cached).

        Parameters
        ----------
        image : image
        layer : str, int or LayerInfo, optional
            The conv layer explained (default: the last one); input-resolution methods that use
            no layer ignore it.
        target : int, str, Target or None
            A class index, ``"positive"``/``"negative"`` for a single sigmoid unit, a target
            object, or None for the predicted class.
        method : str or Method
            Any name of :data:`~convviz_widgets.engine.cam.METHODS`.
        progress, cancel : callable, optional
            For slow methods: ``progress(done, total)`` between batches, and ``cancel()``
            returning True to stop there (:class:`~convviz_widgets.engine.cam.Cancelled` is
            raised; nothing is cached).
        """
        chosen = get_method(method)
        with self.probe.weights.pinned() as version:
            prepared = self.probe.prepare(image)
            info = self._layer(layer, chosen)
            resolved = self.target(prepared, target)
            key = self._key(version, prepared, info, resolved, chosen)
            found = self._results.get(key)
            if found is not None:
                return _asked_layer(found, info)
            request = Request(prepared, info, resolved, self, progress, cancel)
            values = chosen.explain(request)
            score = None
            if isinstance(chosen, CAMMethod) and "gradients" in chosen.needs:
                score = float(request.gradient_record().scores[0])
            result = CAMResult(layer=info.path, target=resolved, method=chosen.name, map=values,
                               input_size=prepared.shape[:2], score=score)
            # Every display and measure of a cached map uses it at the input's size: upsample
            # it once, now, so that the cache counts what it holds.
            result.upsampled  # noqa: B018
            self._results.put(key, result, result.nbytes)
            return result

    def cached(self, image: ImageSource | ImageInput, layer: LayerKey | None = None,
               target: Any = None, method: str | Method = "gradcam") -> CAMResult | None:
        """The map if it was computed already for the weights the model has now, else None
        (nothing is computed but the forward pass that resolves a None target)."""
        chosen = get_method(method)
        with self.probe.weights.pinned() as version:
            prepared = self.probe.prepare(image)
            info = self._layer(layer, chosen)
            key = self._key(version, prepared, info, self.target(prepared, target), chosen)
            found = self._results.get(key)
            return None if found is None else _asked_layer(found, info)

    def _key(self, version: int, image: ImageInput, info: LayerInfo, target: Target,
             method: Method) -> tuple:
        return (version, image.key, info.path if method.uses_layer else None, target,
                repr(method), method.name)

    def _layer(self, layer: LayerKey | None, method: Method) -> LayerInfo:
        convs = self.layers
        if layer is None:
            if not convs:
                raise ValueError("the model has no conv layer to explain.")
            return convs[-1]
        info = self.probe.layer(layer)
        if method.uses_layer and not info.is_spatial:
            choices = ", ".join(c.path for c in convs[-3:])
            raise ValueError(f"layer {info.path!r} ({info.class_name}) has no feature maps to "
                             f"explain; choose a conv layer such as {choices}.")
        return info


def _asked_layer(result: CAMResult, info: LayerInfo) -> CAMResult:
    """A cached map as the answer for layer ``info``: a map that uses no layer is cached once
    for every layer, and names the layer that was asked for (see :class:`CAMResult`)."""
    return result if result.layer == info.path else dataclasses.replace(result, layer=info.path)
