"""The VGG16 set-up the tutorials use (weights=None here: no downloads), and one photo."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def vgg16():
    import keras

    return keras.applications.VGG16(weights=None, include_top=True, input_shape=(224, 224, 3))


def photo(name: str = "cat") -> np.ndarray:
    from PIL import Image

    from convviz_widgets import zoo

    image = Image.fromarray(zoo.load_image(name)).resize((224, 224), Image.Resampling.BILINEAR)
    return np.asarray(image)


def preprocess(batch: np.ndarray) -> np.ndarray:
    import keras

    return keras.applications.vgg16.preprocess_input(batch)
