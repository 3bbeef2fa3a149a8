"""Models, class names and sample images: the bundled ones ship in the package (nothing is
downloaded); the ImageNet models come from Keras' cache or the network.

- ``"shapes"``: a small VGG-style convnet (``block1_conv1`` … ``block4_conv2``) trained by
  :mod:`convviz_widgets.zoo.train` on procedurally drawn shapes (:mod:`.shapes`); raw 0–255 RGB
  64×64 images go straight in; softmax over five classes.
- ``"shapes_circle"``: the same architecture with a single sigmoid unit, "is there a circle?"
  (the binary-classifier case of Chollet's cats-vs-dogs model); classes ``["circle",
  "no circle"]`` (positive first).
- ``"vgg16"``, ``"resnet50"``, ``"mobilenetv2"``: ``keras.applications`` models with their
  ImageNet weights from Keras' cache, downloaded when the network is reachable (see
  :mod:`.imagenet`); ``convviz fetch`` prepares a machine without internet.
- Class names of the 1,000 ImageNet classes, so ``keras.applications`` models are decoded
  offline: ``class_names("imagenet")`` (provenance in ``zoo/data/PROVENANCE.md``).
- Sample images: one clean drawing per shape class (``"circle"``, ``"star"``, …) and a few
  photos from scikit-image's public-domain and CC0 set (``"cat"``, ``"coffee"``,
  ``"astronaut"``, ``"rocket"``; provenance in ``zoo/images/PROVENANCE.md``).

Importing this module loads neither TensorFlow nor Keras; :func:`load_model` does.

Examples
--------
>>> from convviz_widgets import zoo
>>> zoo.model_names()
['shapes', 'shapes_circle', 'vgg16', 'resnet50', 'mobilenetv2']
>>> zoo.class_names("shapes")
['circle', 'square', 'triangle', 'star', 'cross']
>>> zoo.image_names()[:5]
['circle', 'square', 'triangle', 'star', 'cross']
>>> zoo.load_image("cat").shape
(213, 320, 3)
>>> zoo.load_model("shapes").name
'shapes_vgg'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .shapes import SHAPE_CLASSES, sample_image

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["bundled_class_names", "class_names", "has_random_weights", "image_names",
           "load_image", "load_model", "load_timeline", "model_names", "preprocess",
           "timeline_names"]

_HERE = Path(__file__).resolve().parent
_DATA = _HERE / "data"
_IMAGES = _HERE / "images"
_PHOTOS = ("cat", "coffee", "astronaut", "rocket")
_MODELS = ("shapes", "shapes_circle")
#: ImageNet models of ``keras.applications`` (the keys of ``imagenet.MODELS``, kept here so
#: that naming them costs no import of Keras).
_IMAGENET = ("vgg16", "resnet50", "mobilenetv2")
#: The Keras name ``zoo.train`` gives each bundled model → (its bundled name, output units).
_KERAS_NAMES = {"shapes_vgg": ("shapes", 5), "shapes_circle": ("shapes_circle", 1)}
#: Class-name lists that belong to no bundled model.
_CLASS_LISTS = ("imagenet",)


def model_names() -> list[str]:
    """Names accepted by :func:`load_model`: the bundled models, then the ImageNet models of
    ``keras.applications`` (weights from Keras' cache or the network; see :mod:`.imagenet`)."""
    return [*_MODELS, *_IMAGENET]


def _check_model_name(name: str) -> None:
    if name not in _MODELS and name not in _IMAGENET:
        raise ValueError(f"no model named {name!r}; choose one of {model_names()}.")


def load_model(name: str = "shapes", weights: str | None = "imagenet") -> keras.Model:
    """Load a model by name, uncompiled; every call returns a new, independent copy.

    Parameters
    ----------
    name : str, default "shapes"
        One of :func:`model_names`: a bundled model (``"shapes"``, ``"shapes_circle"``), or an
        ImageNet model (``"vgg16"``, ``"resnet50"``, ``"mobilenetv2"``) whose trained weights
        come from Keras' cache, or are downloaded into it (``convviz fetch vgg16`` prepares an
        offline machine). Give ImageNet models their :func:`preprocess`.
    weights : {"imagenet", None}
        For the ImageNet models: ``None`` builds them with random weights, named
        ``<name>_random_weights`` so that every widget says so.

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        If no model has that name, or its weights are missing (one sentence saying what to run).

    Examples
    --------
    >>> model = load_model("shapes")
    >>> model.input_shape, model.output_shape
    ((None, 64, 64, 3), (None, 5))
    >>> load_model("mobilenetv2", weights=None).name
    'mobilenetv2_random_weights'
    """
    _check_model_name(name)
    if name in _IMAGENET:
        from . import imagenet

        return imagenet.load(name, weights)
    path = _DATA / f"{name}.keras"
    if not path.is_file():
        raise ValueError(
            f"the bundled model file {path} is missing; reinstall convviz_widgets or rebuild "
            "it with `python -m convviz_widgets.zoo.train`."
        )
    from ..engine.startup import quiet_tensorflow

    quiet_tensorflow()
    import keras

    return keras.saving.load_model(path, compile=False)


def preprocess(name: str) -> Any:
    """The preprocessing an ImageNet model of :func:`load_model` expects (its
    ``keras.applications`` ``preprocess_input``); None for the bundled models (raw 0–255).

    Examples
    --------
    >>> preprocess("shapes") is None, preprocess("vgg16").__name__
    (True, 'preprocess_input')
    """
    _check_model_name(name)
    if name in _IMAGENET:
        from . import imagenet

        return imagenet.preprocess(name)
    return None


def has_random_weights(model: Any) -> bool:
    """Whether ``model`` is an ImageNet model that :func:`load_model` built with random weights
    (widgets say so in their status line)."""
    return str(getattr(model, "name", "")).endswith("_random_weights")


#: Recorded trainings shipped with the package (``zoo.train --record`` wrote them).
_TIMELINES = ("shapes",)


def timeline_names() -> list[str]:
    """Names accepted by :func:`load_timeline`."""
    return list(_TIMELINES)


def load_timeline(name: str = "shapes") -> Any:
    """The recorded training of a bundled model, as a :class:`~convviz_widgets.engine.timeline.
    Timeline` on a fresh copy of the model (the start, epochs 1–6, 8, 10 and 12 of the
    classification training, and the end of the equivariance fine-tuning as epoch 16; float16).

    Every call rebuilds the model, so scrubbing it never changes a model loaded elsewhere.

    Examples
    --------
    >>> timeline = load_timeline("shapes")
    >>> timeline.epochs
    [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16]
    >>> timeline.show(16)
    >>> timeline.model.name
    'shapes_vgg'
    """
    if name not in _TIMELINES:
        raise ValueError(f"no bundled timeline named {name!r}; choose one of {list(_TIMELINES)}, "
                         "or record one: python -m convviz_widgets.zoo.train --record FOLDER.")
    from ..engine.timeline import Timeline

    return Timeline(_DATA / "timelines" / name)


def bundled_class_names(model: Any) -> list[str] | None:
    """The class names of ``model`` if it is one of the bundled models, else None.

    Recognised by the Keras name ``zoo.train`` gives them and the number of output units, so a
    widget given ``load_model("shapes")`` without ``class_names`` still shows "circle", "star"…

    Examples
    --------
    >>> bundled_class_names(load_model("shapes_circle"))
    ['circle', 'no circle']
    """
    name, units = _KERAS_NAMES.get(getattr(model, "name", None), (None, None))
    if name is None or getattr(model, "output_shape", (None,))[-1] != units:
        return None
    return class_names(name)


def class_names(name: str = "shapes") -> list[str]:
    """Class names of a bundled model, or of ImageNet, in the order of the output units.

    Parameters
    ----------
    name : str, default "shapes"
        One of :func:`model_names`, or ``"imagenet"`` for the 1,000 classes of the
        ``keras.applications`` models (index ``i`` is the ``i``-th WordNet id in sorted order,
        as in Keras' ``decode_predictions``).

    Examples
    --------
    >>> class_names("shapes")
    ['circle', 'square', 'triangle', 'star', 'cross']
    >>> names = class_names("imagenet")
    >>> len(names), names[0], names[386]
    (1000, 'tench', 'African elephant')
    """
    if name == "imagenet" or name in _IMAGENET:
        rows = json.loads((_DATA / "imagenet_classes.json").read_text(encoding="utf-8"))
        return [label for _wnid, label in rows]
    if name not in _MODELS:
        raise ValueError(f"no class names for {name!r}; choose one of "
                         f"{[*_MODELS, *_CLASS_LISTS]}.")
    path = _DATA / f"{name}_classes.json"
    return list(json.loads(path.read_text(encoding="utf-8")))


def image_names() -> list[str]:
    """Names accepted by :func:`load_image`: one drawing per shape class, then the photos."""
    return [*SHAPE_CLASSES, *_PHOTOS]


def load_image(name: str) -> np.ndarray:
    """A bundled sample image as a uint8 RGB array ``(H, W, 3)``.

    Shape samples are drawn at 64×64 (the bundled model's input size); photos keep their own
    size (longest side 320 px): the widgets resize to whatever the model expects.

    Parameters
    ----------
    name : str
        One of :func:`image_names`.

    Raises
    ------
    ValueError
        If there is no sample of that name.

    Examples
    --------
    >>> load_image("star").shape
    (64, 64, 3)
    """
    if name in SHAPE_CLASSES:
        return sample_image(name)
    if name in _PHOTOS:
        from PIL import Image

        with Image.open(_IMAGES / f"{name}.jpg") as photo:
            return np.asarray(photo.convert("RGB"))
    raise ValueError(f"no sample image named {name!r}; choose one of {image_names()}.")


def shapes_dataset(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded data set of ``n`` shape drawings like the bundled model's training data.

    For the Explorer's dataset examples and for benchmarks: the same ``seed`` always gives the
    same images. Classes are balanced and shuffled.

    Returns
    -------
    images : numpy.ndarray
        uint8 ``(n, 64, 64, 3)``.
    labels : numpy.ndarray
        int64 ``(n,)`` indices into ``class_names("shapes")``.

    Examples
    --------
    >>> images, labels = shapes_dataset(10, seed=3)
    >>> images.shape, images.dtype, labels.tolist() == shapes_dataset(10, seed=3)[1].tolist()
    ((10, 64, 64, 3), dtype('uint8'), True)
    """
    from .shapes import make_dataset

    return make_dataset(int(n), size=64, seed=int(seed))
