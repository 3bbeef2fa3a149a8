"""ImageNet models of ``keras.applications`` with their trained weights, online or offline.

Weights come from Keras' own cache (``$KERAS_HOME/models``, else ``~/.keras/models``) when they
are there, and are downloaded into it when the network is reachable; ``convviz fetch vgg16
resnet50`` fills the cache ahead of an offline lecture. Without cache and network, loading says
in one sentence what to run. Random weights are used only when asked (``weights=None``, or the
environment variable ``CONVVIZ_RANDOM_WEIGHTS=1`` for automated runs without network), and the
model is then named ``<name>_random_weights`` so that every widget says so in its status line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RANDOM_SUFFIX = "_random_weights"
"""Ends the name of a model built with random weights."""
RANDOM_WEIGHTS_VARIABLE = "CONVVIZ_RANDOM_WEIGHTS"
"""Set to ``1`` to fall back on random weights (labelled) where the trained ones are missing."""


@dataclass(frozen=True)
class ImagenetModel:
    """How to build one ``keras.applications`` model and where Keras caches its weights."""

    builder: str  # the keras.applications function
    module: str  # the keras.applications module with its preprocess_input
    weights_file: str  # the file name in Keras' cache
    megabytes: int  # size of the weights file, for the fetch report


MODELS = {
    "vgg16": ImagenetModel("VGG16", "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels.h5", 528),
    "resnet50": ImagenetModel("ResNet50", "resnet50",
                              "resnet50_weights_tf_dim_ordering_tf_kernels.h5", 98),
    "mobilenetv2": ImagenetModel("MobileNetV2", "mobilenet_v2",
                                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", 14),
}


def keras_cache() -> Path:
    """The folder where Keras keeps downloaded weights (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def cached_weights(name: str) -> Path | None:
    """The cached weights file of ``name``, if Keras' cache holds it."""
    path = keras_cache() / MODELS[name].weights_file
    return path if path.is_file() else None


def preprocess(name: str) -> Callable[[Any], Any]:
    """The model's own ``preprocess_input`` (it works on tensors too)."""
    import importlib

    return importlib.import_module(f"keras.applications.{MODELS[name].module}").preprocess_input


def load(name: str, weights: str | None = "imagenet") -> Any:
    """``keras.applications`` model ``name`` with ImageNet weights (or random ones if asked).

    Raises
    ------
    ValueError
        When the weights are neither cached nor downloadable, saying what to run.
    """
    from ..engine.startup import quiet_tensorflow

    quiet_tensorflow()
    import keras

    spec = MODELS[name]
    builder = getattr(keras.applications, spec.builder)
    if weights not in ("imagenet", None):
        raise ValueError(f"weights is 'imagenet' or None (random), not {weights!r}.")
    if weights is None:
        return builder(weights=None, name=f"{name}{RANDOM_SUFFIX}")
    cached = cached_weights(name)
    if cached is not None:
        model = builder(weights=None, name=name)
        try:
            model.load_weights(cached)
        except Exception as err:
            raise ValueError(f"the cached weights {str(cached)!r} cannot be read ({err}); delete "
                             f"the file and run `convviz fetch {name}`.") from None
        return model
    try:
        return builder(weights="imagenet", name=name)
    except Exception as err:  # offline: a URL fetch error
        if os.environ.get(RANDOM_WEIGHTS_VARIABLE) == "1":
            return builder(weights=None, name=f"{name}{RANDOM_SUFFIX}")
        raise ValueError(
            f"{spec.builder}'s ImageNet weights ({spec.megabytes} MB) are not in Keras' cache "
            f"({keras_cache()}) and could not be downloaded ({type(err).__name__}); run "
            f"`convviz fetch {name}` where the internet is reachable (or copy "
            f"{spec.weights_file} into that folder), or pass weights=None for random weights."
        ) from None


def fetch(names: list[str]) -> list[tuple[str, Path, int]]:
    """Download the weights of ``names`` into Keras' cache (nothing when already there);
    ``(name, file, bytes)`` for each."""
    fetched = []
    for name in names:
        if name not in MODELS:
            raise ValueError(f"no ImageNet model named {name!r}; choose from "
                             f"{', '.join(MODELS)}.")
        if cached_weights(name) is None:
            load(name)
        path = cached_weights(name)
        if path is None:
            raise ValueError(f"{name}'s weights were not saved in {keras_cache()}.")
        fetched.append((name, path, path.stat().st_size))
    return fetched
