"""Turn what users pass as an image into a display copy and model pixels, or a clear error.

Every source (array, PIL image, file, encoded bytes) goes through the same rules:

- **Size**: at most :data:`MAX_IMAGE_PIXELS` pixels (height × width). For files and bytes the
  size is read from the header, before a single pixel is decoded, so a decompression bomb costs
  nothing.
- **Scale**: model pixels are float32 on the 0–255 scale. 8-bit data is kept; 16-bit data
  (PNG, TIFF, PPM) is divided by 257 (0–65535 → 0–255); floating-point data in [0, 1] is
  multiplied by 255, data in [0, 255] kept, any other range refused (for arrays the error points
  to ``preprocess=``). 32-bit integer files have no standard scale and are refused.
- **Alpha**: an alpha channel (RGBA and LA files, palette or colour-key transparency, RGBA
  arrays) is composited over white and dropped, and :attr:`ImageInput.note` says so.
- **Colour**: files and PIL images are converted to the model's colour mode (grayscale copied
  into R, G and B for an RGB model; colour turned to luma, ``0.299 R + 0.587 G + 0.114 B``, for
  a grayscale model), with a note; palette and 1-bit images are expanded without one (nothing
  is lost). Arrays are never converted between gray and colour: an ``(H, W)`` array might be a
  mask, a depth map or a gray picture, so a mismatch is an error saying how to convert it.
- **Orientation and frames**: a file's EXIF orientation is applied (as image viewers do) and only
  the first frame of an animated file is used, each with a note.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

ImageSource = Any  # numpy array, PIL image, path, or encoded bytes

#: Largest image accepted, in pixels (height × width): 50 megapixels. The largest photos that
#: cameras commonly take (45–50 megapixels) fit; preparing one briefly holds about 1 GB (float32
#: copies of every pixel), and a convnet sees a few hundred pixels a side anyway, so anything
#: larger is nearly always a mistake or a decompression bomb. Assign another number to change it
#: (``convviz_widgets.engine.images.MAX_IMAGE_PIXELS = 100_000_000``); Pillow's own bomb check
#: (``PIL.Image.MAX_IMAGE_PIXELS``, twice of which is refused outright) still applies to files.
MAX_IMAGE_PIXELS = 50_000_000

ALPHA_NOTE = "the alpha channel was dropped (transparent pixels composited over white)"
_GRAY_TO_RGB_NOTE = "the grayscale image was copied into the R, G and B channels"
_RGB_TO_GRAY_NOTE = "the colour image was converted to grayscale (0.299 R + 0.587 G + 0.114 B)"
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_GRAY_MODES = ("1", "L", "LA", "La")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_LOSSLESS_COLOUR_MODES = ("RGB", "RGBA", "RGBa", "P", "PA")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


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
    note : str or None
        What was done to the image beyond scaling and resizing (alpha composited over white,
        colour mode converted, EXIF orientation applied, …), for a status line; ``None`` when
        nothing was.
    """

    display: np.ndarray = field(repr=False)
    pixels: np.ndarray = field(repr=False)
    key: str
    note: str | None = None

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


def _check_size(what: str, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"{what} is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels), more "
            f"than the limit of {MAX_IMAGE_PIXELS / 1e6:g} megapixels; scale it down first (or "
            "raise convviz_widgets.engine.images.MAX_IMAGE_PIXELS)."
        )


def _bomb_error(what: str, err: Exception) -> ValueError:
    """Pillow refused a header as a decompression bomb: say how large, and which limit."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    pixels = int(found.group(1)) if found else 0
    size = f"{pixels / 1e6:.1f} megapixels" if found else "too many pixels"
    if pixels > MAX_IMAGE_PIXELS or not found:
        limit = (f"the limit of {MAX_IMAGE_PIXELS / 1e6:g} megapixels; scale it down first (or "
                 "raise convviz_widgets.engine.images.MAX_IMAGE_PIXELS)")
    else:
        limit = (f"Pillow's decompression-bomb limit of {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:g}"
                 " megapixels; scale it down first (or raise PIL.Image.MAX_IMAGE_PIXELS)")
    return ValueError(f"{what} is {size}, more than {limit}.")


def _open(stream: Any, what: str) -> Image.Image:
    """Read the header only (Pillow decodes lazily); refuse bombs and non-images here."""
    try:
        # Our own size check follows, with a sentence instead of a warning. (catch_warnings
        # swaps the process-wide filter list, so a concurrent thread may briefly share it.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream)
    except Image.DecompressionBombError as err:
        raise _bomb_error(what, err) from None
    except UnidentifiedImageError:
        raise ValueError(
            f"could not decode {what} as an image (not a format Pillow reads); use a valid PNG "
            "or JPEG file."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ValueError(
            f"could not decode {what} as an image ({err}); use a valid PNG or JPEG file."
        ) from None


def _decode_file(stream: Any, what: str, channels: int) -> tuple[np.ndarray, list[str]]:
    with _open(stream, what) as img:
        return _from_pil(img, what, channels)


def _float_scale(values: np.ndarray, what: str, fix: str) -> np.ndarray:
    """Float32 values on the 0–255 scale: [0, 1] is scaled up, [0, 255] kept, others refused."""
    if not np.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or infinite values.")
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        return values * np.float32(255.0)
    if low < 0.0 or high > 255.0:
        raise ValueError(f"{what} has values from {low:.4g} to {high:.4g}, outside 0–255: {fix}.")
    return values


def _wide_pixels(img: Image.Image, what: str) -> np.ndarray:
    """16-bit and float images (one channel in Pillow) as float32 ``(H, W)`` on 0–255."""
    if img.mode == "F":
        return _float_scale(np.asarray(img, np.float32), what,
                            "save it with values in [0, 1] or [0, 255]")
    bits = 16 if img.mode in _SIXTEEN_BIT_MODES or img.format in ("PNG", "PPM") else None
    if bits is None and img.mode == "I" and img.format == "TIFF":
        bits = (getattr(img, "tag_v2", {}).get(258) or (None,))[0]  # BitsPerSample
    values = np.asarray(img).astype(np.float32)
    if bits != 16 or values.min() < 0 or values.max() > 65535:
        raise ValueError(
            f"{what} stores {bits or 32}-bit integer pixels (mode {img.mode}), which have no "
            "standard brightness scale; save it with 8 or 16 bits per channel, or as floats in "
            "[0, 1]."
        )
    return values / np.float32(257.0)  # 65535 → 255; exact for multiples of 257


def _pil_array(img: Image.Image, what: str, notes: list[str]) -> tuple[np.ndarray, bool]:
    """Decode a PIL image: float32 ``(H, W, C)`` on 0–255, and whether the last channel is
    alpha."""
    try:
        img.load()
        if img.getexif().get(ExifTags.Base.Orientation, 1) not in (1, None):
            img = ImageOps.exif_transpose(img)
            notes.append("it was turned upright as its EXIF orientation says")
    except (OSError, SyntaxError, EOFError) as err:
        raise ValueError(
            f"could not decode {what} as an image ({err}); use a valid PNG or JPEG file."
        ) from None
    mode = img.mode
    if mode == "F" or mode.startswith("I"):
        return _wide_pixels(img, what)[:, :, None], False
    alpha = mode in _ALPHA_MODES or "transparency" in img.info
    gray = mode in _GRAY_MODES
    target = ("LA" if alpha else "L") if gray else ("RGBA" if alpha else "RGB")
    if not gray and mode not in _LOSSLESS_COLOUR_MODES:
        notes.append(f"its {mode} colours were converted to RGB")
    try:
        array = np.asarray(img if mode == target else img.convert(target), np.float32)
    except (ValueError, OSError) as err:  # Pillow knows no conversion from this mode
        raise ValueError(
            f"could not convert {what} from {mode} to {target} ({err}); save it as an 8-bit "
            "RGB PNG or JPEG."
        ) from None
    return array.reshape(array.shape[0], array.shape[1], -1), alpha


def _from_pil(img: Image.Image, what: str, channels: int) -> tuple[np.ndarray, list[str]]:
    """Float32 ``(H, W, channels)`` pixels on 0–255 and the notes on what was converted."""
    _check_size(what, *img.size)
    notes: list[str] = []
    if getattr(img, "is_animated", False):
        notes.append("only the first frame of the animation was used")
    array, alpha = _pil_array(img, what, notes)
    if alpha:
        array = _composite_over_white(array)
        notes.append(ALPHA_NOTE)
    return _match_channels(array, channels, notes)


def _composite_over_white(array: np.ndarray) -> np.ndarray:
    """Colour channels of ``(H, W, C + 1)`` float32 0–255 pixels with the last one as alpha."""
    opacity = array[:, :, -1:] / np.float32(255.0)
    return array[:, :, :-1] * opacity + np.float32(255.0) * (np.float32(1.0) - opacity)


def _match_channels(pixels: np.ndarray, channels: int, notes: list[str]
                    ) -> tuple[np.ndarray, list[str]]:
    """A decoded file's pixels in the model's colour mode (gray ↔ RGB), noting a conversion."""
    got = pixels.shape[2]
    if got == channels:
        return pixels, notes
    if got == 1 and channels == 3:
        return np.repeat(pixels, 3, axis=2), [*notes, _GRAY_TO_RGB_NOTE]
    if got == 3 and channels == 1:
        if (pixels == pixels[:, :, :1]).all():  # a gray picture stored as RGB: nothing to say
            return pixels[:, :, :1], notes
        return (pixels @ _LUMA)[:, :, None], [*notes, _RGB_TO_GRAY_NOTE]
    raise ValueError(
        f"the model expects {channels} channels but an image file gives 1 (gray) or 3 (RGB); "
        f"pass an array of shape (height, width, {channels}) instead."
    )


def _load(source: ImageSource, channels: int) -> tuple[np.ndarray, list[str]]:
    """Float32 ``(H, W, channels)`` pixels on the 0–255 scale, and notes, from any source."""
    if source is None:
        raise ValueError(
            "no image was given (None); pass a numpy array (H, W, 3), a PIL image, a file path "
            "or encoded PNG/JPEG bytes."
        )
    if isinstance(source, Image.Image):
        return _from_pil(source, "the PIL image", channels)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ValueError("the uploaded data is empty; choose a PNG or JPEG file.")
        return _decode_file(io.BytesIO(data), "the uploaded data", channels)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ValueError(f"no image file at {path!r}; check the path.")
        what = f"the file {path!r}"
        if os.path.getsize(path) == 0:
            raise ValueError(f"{what} is empty; choose a PNG or JPEG file.")
        return _decode_file(path, what, channels)
    if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        return _from_array(np.asarray(source), channels)
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
    _check_size("the image", array.shape[1], array.shape[0])
    got = array.shape[2]
    if got != channels and not (got == 4 and channels == 3):
        if channels == 3 and got == 1:
            fix = "convert it to RGB first, e.g. np.repeat(image[..., None], 3, axis=-1)"
            raise ValueError(f"the image is grayscale but the model expects RGB; {fix}.")
        raise ValueError(
            f"the image has {got} channels but the model expects {channels}; convert it first."
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"image values must be real numbers, got dtype {array.dtype}.")
    return array


def _from_array(array: np.ndarray, channels: int) -> tuple[np.ndarray, list[str]]:
    """An array's pixels on the 0–255 scale; RGBA for an RGB model is composited over white."""
    array = _check_array(array, channels)
    fix = ("pass the raw image (uint8, or floats in [0, 1] or [0, 255]) and give the model's "
           "preprocessing as preprocess=")
    if np.issubdtype(array.dtype, np.floating):
        pixels = _float_scale(array.astype(np.float32), "the image", fix)
    else:
        pixels = array.astype(np.float32)
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0.0 or high > 255.0:
            raise ValueError(
                f"the image has values from {low:.4g} to {high:.4g}, outside 0–255: {fix}.")
    if pixels.shape[2] == 4 and channels == 3:
        return _composite_over_white(pixels), [ALPHA_NOTE]
    return pixels, []


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
        ``(H, W, 3)`` or ``(H, W)`` array (uint8, or floats in [0, 1] or [0, 255]; an RGBA
        array is composited over white); a leading batch axis of 1 is dropped. PIL images and
        files (PNG, JPEG, TIFF, … in 8 or 16 bits, or float) are decoded by their real bit depth
        and converted to the model's colour mode. See the module's docstring for every rule.
    size : (height, width), optional
        The model's input size; ``None`` entries keep the image's own size.
    channels : int
        Channels the model expects (3 for RGB, 1 for grayscale).

    Returns
    -------
    ImageInput
        With a :attr:`~ImageInput.note` when alpha was dropped or colours were converted.

    Raises
    ------
    ValueError
        With one sentence on what is wrong and what to do: no image, wrong rank, batch, channel
        count, empty, corrupt or too large (over :data:`MAX_IMAGE_PIXELS`) data, non-finite or
        out-of-range values.

    Examples
    --------
    >>> import numpy as np
    >>> image = prepare_image(np.zeros((10, 20, 3), np.uint8), size=(8, 8))
    >>> image.pixels.shape, image.display.dtype, image.note
    ((8, 8, 3), dtype('uint8'), "the 20×10 image was stretched to the model's 8×8 input")
    >>> prepare_image(np.zeros((16, 16, 3), np.uint8), size=(8, 8)).note is None
    True
    >>> clear = np.zeros((2, 2, 4), np.uint8)  # fully transparent black
    >>> seen = prepare_image(clear)
    >>> seen.display[0, 0].tolist()
    [255, 255, 255]
    >>> seen.note
    'the alpha channel was dropped (transparent pixels composited over white)'
    """
    pixels, notes = _load(source, channels)
    if size is not None:
        height = size[0] if size[0] is not None else pixels.shape[0]
        width = size[1] if size[1] is not None else pixels.shape[1]
        own_height, own_width = pixels.shape[:2]
        # A different aspect ratio is stretched, as the models were trained (no letterbox):
        # said, since a 480×320 photo then looks squeezed.
        if abs(own_width * height - own_height * width) > max(own_width, own_height):
            notes.append(f"the {own_width}×{own_height} image was stretched to the model's "
                         f"{width}×{height} input")
        pixels = _resize(pixels, (int(height), int(width)))
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    pixels.setflags(write=False)
    display = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return ImageInput(display=display, pixels=pixels, key=fingerprint(pixels),
                      note="; ".join(notes) or None)
