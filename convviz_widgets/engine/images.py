"""Turn what users pass as an image into a display copy and model pixels, or a clear error."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

ImageSource = Any  # numpy array, PIL image, path, or encoded bytes


@dataclass(frozen=True)
class ImageInput:
    """An image ready for one model.

    Attributes
    ----------
    display : numpy.ndarray
        ``uint8`` copy ``(H, W, C)`` for showing; what the user sees.
    pixels : numpy.ndarray
        ``float32`` ``(H, W, C)`` on the 0–255 scale at the model's input size, before any
        ``preprocess`` function: this is what the model is fed.
    key : str
        Fingerprint of ``pixels``; equal content gives an equal key.
    """

    display: np.ndarray = field(repr=False)
    pixels: np.ndarray = field(repr=False)
    key: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of the model input."""
        h, w, c = self.pixels.shape
        return h, w, c


def fingerprint(array: np.ndarray) -> str:
    """A short content hash of an array (its shape, dtype and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}{array.dtype}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _decode(data: bytes, what: str, channels: int) -> np.ndarray:
    if not data:
        raise ValueError(f"{what} is empty; choose a PNG or JPEG file.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return np.asarray(img.convert("RGB" if channels == 3 else "L"))
    except UnidentifiedImageError:
        raise ValueError(
            f"could not decode {what} as an image (not a format Pillow reads); use a valid PNG "
            "or JPEG file."
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(
            f"could not decode {what} as an image ({err}); use a valid PNG or JPEG file."
        ) from None


def _to_array(source: ImageSource, channels: int) -> np.ndarray:
    if isinstance(source, Image.Image):
        return np.asarray(source.convert("RGB" if channels == 3 else "L"))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(bytes(source), "the uploaded data", channels)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ValueError(f"no image file at {path!r}; check the path.")
        with open(path, "rb") as handle:
            return _decode(handle.read(), f"the file {path!r}", channels)
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        return np.asarray(source)
    raise ValueError(
        f"cannot use a {type(source).__name__} as an image; pass a numpy array (H, W, 3), "
        "a PIL image, a file path or encoded PNG/JPEG bytes."
    )


def _check_array(array: np.ndarray, channels: int) -> np.ndarray:
    if array.size == 0:
        raise ValueError(f"the image is empty (shape {array.shape}); pass an image with pixels.")
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 4:
        raise ValueError(
            f"got a batch of {array.shape[0]} images (shape {array.shape}); pass one image at a "
            "time, e.g. images[0]."
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(
            f"an image must have shape (height, width, channels) or (height, width), got "
            f"{array.shape}."
        )
    got = array.shape[2]
    if got != channels:
        if channels == 3 and got == 1:
            fix = "convert it to RGB first, e.g. np.repeat(image[..., None], 3, axis=-1)"
            raise ValueError(f"the image is grayscale but the model expects RGB; {fix}.")
        if got == 4 and channels == 3:
            raise ValueError(
                "the image has 4 channels (RGBA) but the model expects RGB; drop the alpha "
                "channel with image[..., :3]."
            )
        raise ValueError(
            f"the image has {got} channels but the model expects {channels}; convert it first."
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"image values must be real numbers, got dtype {array.dtype}.")
    return array


def _to_pixel_scale(array: np.ndarray) -> np.ndarray:
    """Float32 values on the 0–255 scale: floats in [0, 1] are scaled up, integers kept."""
    pixels = array.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise ValueError("the image contains NaN or infinite values.")
    low, high = float(pixels.min()), float(pixels.max())
    if np.issubdtype(array.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        pixels *= 255.0
    elif low < 0.0 or high > 255.0:
        raise ValueError(
            f"image values span [{low:.3g}, {high:.3g}], outside 0–255: pass the raw image "
            "(uint8, or floats in [0, 1] or [0, 255]) and give the model's preprocessing as "
            "preprocess=."
        )
    return pixels


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    if pixels.shape[:2] == (height, width):
        return pixels
    planes = [
        np.asarray(Image.fromarray(pixels[:, :, c], mode="F").resize((width, height),
                                                                      Image.Resampling.BILINEAR))
        for c in range(pixels.shape[2])
    ]
    return np.stack(planes, axis=-1).astype(np.float32)


def prepare_image(
    source: ImageSource, size: tuple[int | None, int | None] | None = None, channels: int = 3
) -> ImageInput:
    """Load, check and resize an image for a model.

    Parameters
    ----------
    source : numpy.ndarray, PIL.Image.Image, str, os.PathLike or bytes
        ``(H, W, 3)`` or ``(H, W)`` array (uint8, or floats in [0, 1] or [0, 255]); a leading
        batch axis of 1 is dropped. PIL images and files (PNG, JPEG, …) are converted to the
        model's colour mode.
    size : (height, width), optional
        The model's input size; ``None`` entries keep the image's own size.
    channels : int
        Channels the model expects (3 for RGB, 1 for grayscale).

    Returns
    -------
    ImageInput

    Raises
    ------
    ValueError
        With one sentence on what is wrong and what to do: wrong rank, batch, channel count,
        empty or corrupt data, non-finite or out-of-range values.

    Examples
    --------
    >>> import numpy as np
    >>> image = prepare_image(np.zeros((10, 20, 3), np.uint8), size=(8, 8))
    >>> image.pixels.shape, image.display.dtype
    ((8, 8, 3), dtype('uint8'))
    """
    array = _check_array(_to_array(source, channels), channels)
    pixels = _to_pixel_scale(array)
    if size is not None:
        height = size[0] if size[0] is not None else pixels.shape[0]
        width = size[1] if size[1] is not None else pixels.shape[1]
        pixels = _resize(pixels, (int(height), int(width)))
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    pixels.setflags(write=False)
    display = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return ImageInput(display=display, pixels=pixels, key=fingerprint(pixels))
