"""Data sets to index, whatever their kind: batches of uint8 images at a model's input size.

A numpy array ``(N, H, W, C)`` (uint8, or floats in [0, 1] or [0, 255]); a folder of image
files (recursive, sorted; unreadable files skipped and counted); a ``tf.data.Dataset`` of
images, ``(image, label)`` pairs or dictionaries with an ``"image"`` entry, batched or not; any
iterable of images. Each gets a key: the array's content, the folder's file names, sizes and
modification times, or a name given for a stream that cannot be read twice.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .images import prepare_image
from .model_spec import InputSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class Stream:
    """Batches of uint8 images at the model's input size, from any kind of data set."""

    def __init__(self, key: str, total: int | None,
                 items: Callable[[int], Iterator[tuple[Any, str | None]]],
                 prepare: Callable[[Any], np.ndarray | None]) -> None:
        self.key, self.total, self._items, self._prepare = key, total, items, prepare
        self.skipped = 0
        #: The whole data set as uint8 ``(N, H, W, C)`` at the model's size, when it is an
        #: array already in memory (its images can be read again at any time), else None.
        self.array: np.ndarray | None = None

    def batches(self, size: int, skip: int = 0) -> Iterator[tuple[np.ndarray, list[str] | None]]:
        """Batches of ``size`` images (the last one smaller), after the first ``skip``."""
        images: list[np.ndarray] = []
        names: list[str] = []
        named = False
        for item, name in self._items(skip):
            pixels = self._prepare(item)
            if pixels is None:
                self.skipped += 1
                continue
            if pixels.ndim == 4:  # a batch of a batched tf.data.Dataset, or an array's slice
                images.extend(pixels)
            else:
                images.append(pixels)
            if name is not None:
                named = True
                names.append(name)
            while len(images) >= size:
                yield np.stack(images[:size]), (names[:size] if named else None)
                images, names = images[size:], names[size:]
        if images:
            yield np.stack(images), (names if named else None)


def stream_of(data: Any, spec: InputSpec, dataset_key: str | None = None) -> Stream:
    """The batches of ``data`` for a model whose input is ``spec``.

    Raises
    ------
    ValueError
        With one sentence: a model of any input size, a missing folder, an array of another
        rank, an empty array, values outside 0–255, or something that is not a data set.
    """
    if spec.height is None or spec.width is None:
        raise ValueError("the model takes images of any size; index it through a model with a "
                         "fixed input size (e.g. keras.Input((224, 224, 3))).")
    size = (int(spec.height), int(spec.width))
    channels = int(spec.channels)

    def prepared(image: Any) -> np.ndarray:
        array = np.asarray(image) if not isinstance(image, (str, os.PathLike, bytes)) else None
        if (array is not None and array.dtype == np.uint8 and array.ndim in (3, 4)
                and array.shape[-3:] == (*size, channels)):
            return array
        return prepare_image(image, size=size, channels=channels).display

    if isinstance(data, (str, os.PathLike)):
        root = Path(data)
        if not root.is_dir():
            raise ValueError(f"no folder at {str(root)!r}; give a folder of images, an array "
                             "(N, H, W, C), a tf.data.Dataset or a list of images.")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                       and p.is_file())
        if not files:
            raise ValueError(f"the folder {str(root)!r} holds no image files "
                             f"({', '.join(IMAGE_SUFFIXES)}); give a folder of images.")
        digest = hashlib.blake2b(digest_size=16)
        for path in files:
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}".encode())

        def from_folder(skip: int) -> Iterator[tuple[Any, str | None]]:
            for path in files[skip:]:
                yield path, str(path.relative_to(root))

        def readable(path: Any) -> np.ndarray | None:
            try:
                return prepared(path)
            except ValueError:
                return None

        return Stream(digest.hexdigest(), len(files), from_folder, readable)
    if isinstance(data, np.ndarray):
        if data.ndim != 4:
            raise ValueError(f"an array data set must have shape (N, height, width, channels), "
                             f"got {data.shape}.")
        if len(data) == 0:
            raise ValueError("the data set holds no image the model can take; give it images.")
        array = _as_uint8(data)
        digest = hashlib.blake2b(f"{array.shape}".encode(), digest_size=16)
        digest.update(np.ascontiguousarray(array).data)
        fits = array.shape[1:] == (*size, channels)

        def from_array(skip: int) -> Iterator[tuple[Any, str | None]]:
            if fits:  # slices of the array itself: no copy, no per-image work
                for start in range(skip, len(array), 256):
                    yield array[start : start + 256], None
            else:
                for image in array[skip:]:
                    yield image, None

        stream = Stream(digest.hexdigest(), len(array), from_array, prepared)
        stream.array = array if fits else None
        return stream
    if not isinstance(data, Iterable) and not isinstance(data, tf.data.Dataset):
        raise ValueError(f"cannot index a {type(data).__name__}; give a folder of images, an "
                         "array (N, H, W, C), a tf.data.Dataset or a list of images.")
    total = (len(data) if isinstance(data, Sized) and not isinstance(data, tf.data.Dataset)
             else None)
    key = dataset_key if dataset_key is not None else f"unkeyed-{id(data)}-{time.time_ns()}"

    def from_iterable(skip: int) -> Iterator[tuple[Any, str | None]]:
        items = data.as_numpy_iterator() if isinstance(data, tf.data.Dataset) else iter(data)
        seen = 0
        for element in items:
            image = _image_of(element)
            count = len(image) if np.ndim(image) == 4 else 1
            if seen + count <= skip:
                seen += count
                continue
            if seen < skip:  # a batch straddling the resumption point: its unseen rest
                image, count, seen = image[skip - seen :], seen + count - skip, skip
            seen += count
            yield image, None

    def checked(image: Any) -> np.ndarray:
        if np.ndim(image) == 4:
            return np.stack([prepared(one) for one in _as_uint8(np.asarray(image))])
        if isinstance(image, np.ndarray) and image.dtype != np.uint8:
            image = _as_uint8(image[None])[0]
        return prepared(image)

    return Stream(hashlib.blake2b(key.encode(), digest_size=16).hexdigest(), total,
                   from_iterable, checked)


def _image_of(element: Any) -> Any:
    """The image of a data set's element: itself, the first of a pair, or ``"image"``."""
    if isinstance(element, dict):
        return element["image"] if "image" in element else next(iter(element.values()))
    if isinstance(element, (tuple, list)) and len(element) in (2, 3) and np.ndim(element[0]) >= 2:
        return element[0]
    return element


def _as_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 pixels of an image array on the 0–255 scale (floats in [0, 1] scaled up)."""
    if array.dtype == np.uint8:
        return array
    values = np.asarray(array, np.float32)
    if not np.isfinite(values).all():
        raise ValueError("the data set contains NaN or infinite values.")
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        values = values * 255.0
    elif low < 0.0 or high > 255.0:
        raise ValueError(f"the data set has values from {low:.4g} to {high:.4g}, outside 0–255: "
                         "give raw images and the model's preprocessing as preprocess=.")
    return np.rint(values).astype(np.uint8)


__all__ = ["IMAGE_SUFFIXES", "Stream", "stream_of"]
