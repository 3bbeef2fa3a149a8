"""Is the picture on the screen the expected one, upright? Pure numpy and Pillow, no browser.

The screen and the expected picture are compared in grayscale by correlation, three times: the
expected picture as it is, upside down and mirrored. Upright means "as it is" correlates highly
and clearly beats both flips. Each correlation is the best over shifts of a few pixels, because
a browser may place or clip a drawing a pixel or two away from where the geometry says.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_SHIFT = 3
MIN_CORRELATION = 0.9
MIN_LEAD = 0.2


@dataclass(frozen=True)
class Orientation:
    """Best correlations of the screen with the expected picture as it is, upside down and
    mirrored (Pearson, grayscale, over shifts of up to ``MAX_SHIFT`` pixels)."""

    upright: float
    upside_down: float
    mirrored: float

    def __str__(self) -> str:
        return (f"upright {self.upright:.3f}, upside down {self.upside_down:.3f}, "
                f"mirrored {self.mirrored:.3f}")


def decode(png: bytes) -> np.ndarray:
    """PNG bytes as uint8 RGB ``(H, W, 3)``."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def gray(rgb: np.ndarray) -> np.ndarray:
    """Luminance (ITU-R 601) of uint8 RGB as float64."""
    return np.asarray(rgb, np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])


def resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 RGB resized with nearest-neighbour sampling (bqplot draws images pixelated)."""
    if rgb.shape[:2] == (height, width):
        return rgb
    image = Image.fromarray(np.ascontiguousarray(rgb, np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.NEAREST))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays; NaN when either is constant."""
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    norm = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / norm if norm > 0 else math.nan


def shifted_correlation(screen: np.ndarray, picture: np.ndarray,
                        max_shift: int = MAX_SHIFT) -> float:
    """The best correlation of ``picture``'s core (a ``max_shift`` border cut off) with the
    screen, shifted by up to ``max_shift`` pixels each way (grayscale arrays, same shape)."""
    height, width = screen.shape
    shift = min(max_shift, (height - 1) // 4, (width - 1) // 4)
    core = picture[shift : height - shift, shift : width - shift]
    scores = [
        correlation(screen[shift + dy : height - shift + dy, shift + dx : width - shift + dx],
                    core)
        for dy in range(-shift, shift + 1)
        for dx in range(-shift, shift + 1)
    ]
    finite = [score for score in scores if not math.isnan(score)]
    return max(finite) if finite else math.nan


def orientation(screen: np.ndarray, expected: np.ndarray,
                drawn_size: tuple[int, int] | None = None,
                offset: tuple[int, int] = (0, 0)) -> Orientation:
    """Correlations of ``screen`` (RGB pixels shown) with ``expected``, upside down, mirrored.

    ``expected`` (any size) is the picture that should fill a drawn box of ``drawn_size``
    (width, height; default: the screen's size); the screen shows the part of that box from
    ``offset`` (x, y) on, as when a figure clips its drawing. Flips are of the whole drawing.
    """
    height, width = screen.shape[:2]
    drawn_width, drawn_height = drawn_size or (width, height)
    whole = resized(expected, drawn_width, drawn_height)
    x, y = offset
    screen_gray = gray(screen)
    scores = []
    for candidate in (whole, whole[::-1], whole[:, ::-1]):
        part = gray(candidate[y : y + height, x : x + width])
        rows, cols = min(height, part.shape[0]), min(width, part.shape[1])
        scores.append(shifted_correlation(screen_gray[:rows, :cols], part[:rows, :cols]))
    return Orientation(*scores)


def check_upright(scores: Orientation, what: str, min_correlation: float = MIN_CORRELATION,
                  min_lead: float = MIN_LEAD) -> None:
    """Raise ``AssertionError`` unless ``scores`` say the screen shows the picture upright:
    above ``min_correlation`` and ahead of both flips by ``min_lead``."""
    if any(math.isnan(score) for score in (scores.upright, scores.upside_down, scores.mirrored)):
        raise AssertionError(f"{what}: the screen or the expected picture is a flat colour, so "
                             f"its orientation cannot be told ({scores}).")
    lead = scores.upright - max(scores.upside_down, scores.mirrored)
    if scores.upright > min_correlation and lead > min_lead:
        return
    best = max(scores.upright, scores.upside_down, scores.mirrored)
    if best > min_correlation and scores.upside_down == best:
        verdict = "it is drawn upside down"
    elif best > min_correlation and scores.mirrored == best:
        verdict = "it is drawn mirrored"
    else:
        verdict = "it does not show the expected picture"
    raise AssertionError(
        f"{what}: {verdict}. Correlation of the screen with the expected picture: {scores} "
        f"(upright must exceed {min_correlation} and beat both flips by {min_lead}).")
