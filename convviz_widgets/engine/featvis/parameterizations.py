"""Image parameterizations: how the optimized image is represented.

Both produce ``(N, H, W, C)`` float32 images on the model's *input* scale, raw pixels 0–255 before
any ``preprocess`` (what a user would feed the model), from parameters the optimizer updates.

- :class:`Pixels`: the parameters are the pixels themselves, started from gray noise
  (seed S2, Chollet's *Deep Learning with Python* §5.4).
- :class:`FFT`: the parameters are the image's Fourier coefficients, scaled by a 1/f spectrum,
  with decorrelated colour (Olah, Mordvintsev & Schubert, 2017, "Feature Visualization",
  Distill, section "Preconditioning and Parameterization"). Gradient steps in this space favour
  low frequencies and natural colours, which keeps the high-frequency noise of plain pixel
  ascent out of the picture.

Every image of a batch starts from the same parameters, drawn from the seed alone: a filter's
pattern then does not depend on which other filters share its batch (see ``optimize``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class Pixels:
    """Raw pixels, initialized as seed S2 does: ``uniform[0, 1) * 20 + 128`` (gray noise).

    Parameters
    ----------
    mean, spread : float
        The noise is ``uniform[0, 1) * spread + mean`` on the 0–255 scale.
    """

    mean: float = 128.0
    spread: float = 20.0

    def initial(self, rng: np.random.Generator, height: int, width: int, channels: int
                ) -> np.ndarray:
        """Parameters of one image ``(H, W, C)``."""
        noise = rng.random((height, width, channels))
        return (noise * self.spread + self.mean).astype(np.float32)

    def to_image(self, params: tf.Tensor, height: int, width: int, channels: int) -> tf.Tensor:
        """The images ``(N, H, W, C)`` on the 0–255 scale."""
        return params


def color_correlation_sqrt(pixels: np.ndarray) -> np.ndarray:
    """A square root ``M`` of the RGB covariance of ``pixels`` (values in [0, 1]): ``M Mᵀ = Σ``.

    ``M = U √S`` from the eigendecomposition ``Σ = U S Uᵀ``, columns in decreasing variance
    (luminance first, then two colour-opponent axes), each column's sign set so that its
    largest entry is positive. A vector of independent unit-variance numbers mapped through
    ``M`` has the colour statistics of ``pixels``: this is the "decorrelated colour space" of
    Olah et al. (2017), who derive theirs from ImageNet.
    """
    flat = np.asarray(pixels, np.float64).reshape(-1, 3)
    variances, vectors = np.linalg.eigh(np.cov(flat, rowvar=False))
    order = np.argsort(variances)[::-1]
    root = vectors[:, order] * np.sqrt(np.maximum(variances[order], 0.0))
    signs = np.sign(root[np.argmax(np.abs(root), axis=0), np.arange(3)])
    return root * signs


#: ``color_correlation_sqrt`` of the bundled photos (cat, coffee, astronaut, rocket), rounded; a
#: test re-derives it. ImageNet cannot be downloaded here; these CC0 photos give the same shape
#: (a dominant luminance axis, a red–blue and a weak green–magenta axis).
COLOR_CORRELATION_SQRT = np.array(
    [[0.2569, -0.1198, -0.0116],
     [0.2281, 0.0344, 0.0300],
     [0.1909, 0.1201, -0.0202]], np.float32)


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> np.ndarray:
    """Per-coefficient gain ``(H, W // 2 + 1)`` of the real FFT that gives a 1/f^decay spectrum.

    Natural images' amplitude spectra fall roughly as 1/f (Field, 1987); scaling parameters by
    it makes a unit step in every parameter change low frequencies more than high ones. The
    frequency is floored at one cycle per image so the constant term stays finite. The gains
    are then normalized so that unit-variance parameters give unit-variance pixels (by
    Parseval's theorem; interior columns of the half spectrum stand for two conjugate
    coefficients), which makes the initial noise level independent of the image size.
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequency = np.sqrt(fy**2 + fx**2)
    gain = 1.0 / np.maximum(frequency, 1.0 / max(height, width)) ** decay
    multiplicity = np.full(fx.shape, 2.0)
    multiplicity[:, 0] = 1.0
    if width % 2 == 0:
        multiplicity[:, -1] = 1.0
    # Each complex coefficient has a real and an imaginary part: 2 unit variances.
    pixel_variance = (2.0 * multiplicity * gain**2).sum() / float(height * width) ** 2
    return (gain / np.sqrt(pixel_variance)).astype(np.float32)


@lru_cache(maxsize=16)
def _scale_tensor(height: int, width: int, decay: float) -> np.ndarray:
    return spectrum_scale(height, width, decay)


@dataclass(frozen=True)
class FFT:
    """Fourier coefficients with a 1/f spectrum and decorrelated colour, squashed by a sigmoid.

    Following Olah et al. (2017, Distill) and their lucid library, re-derived: the spectrum gain
    is normalized to unit pixel variance (lucid multiplies by √(HW) and divides by a constant 4),
    and the colour matrix comes from the bundled photos rather than ImageNet (see
    :data:`COLOR_CORRELATION_SQRT`, normalized as in lucid so its largest column has norm 1).
    The sigmoid keeps every pixel inside 0–255.

    Parameters
    ----------
    decay : float
        Exponent of the 1/f^decay spectrum (1 as in lucid; 0 is white noise).
    decorrelate : bool
        Map the three parameter channels through the colour matrix (RGB models only).
    sd : float
        Standard deviation of the initial pixel logits: 0.1 is about ±6 gray levels, like S2's
        noise. Lucid's 0.01 starts from a nearly flat gray, on which deep ReLU filters are often
        silent everywhere and so get no gradient at all.
    """

    decay: float = 1.0
    decorrelate: bool = True
    sd: float = 0.1

    def initial(self, rng: np.random.Generator, height: int, width: int, channels: int
                ) -> np.ndarray:
        """Parameters of one image ``(2, C, H, W // 2 + 1)``: real and imaginary parts."""
        shape = (2, channels, height, width // 2 + 1)
        return rng.normal(0.0, self.sd, shape).astype(np.float32)

    def to_image(self, params: tf.Tensor, height: int, width: int, channels: int) -> tf.Tensor:
        """The images ``(N, H, W, C)`` on the 0–255 scale."""
        gain = tf.constant(_scale_tensor(height, width, self.decay), tf.complex64)
        spectrum = tf.complex(params[:, 0], params[:, 1]) * gain
        logits = tf.signal.irfft2d(spectrum, fft_length=[height, width])  # (N, C, H, W)
        logits = tf.transpose(logits, (0, 2, 3, 1))
        if self.decorrelate and channels == 3:
            matrix = COLOR_CORRELATION_SQRT / np.linalg.norm(COLOR_CORRELATION_SQRT, axis=0).max()
            logits = tf.linalg.matvec(tf.constant(matrix), logits)
        return tf.sigmoid(logits) * 255.0


Parameterization = Pixels | FFT

PARAMETERIZATIONS: dict[str, type[Pixels] | type[FFT]] = {"pixels": Pixels, "fft": FFT}


def parameterization(spec: str | Parameterization) -> Parameterization:
    """``"pixels"`` or ``"fft"`` (default settings), or a parameterization object as it is."""
    if isinstance(spec, str):
        if spec not in PARAMETERIZATIONS:
            raise ValueError(f"unknown parameterization {spec!r}; use one of "
                             f"{', '.join(PARAMETERIZATIONS)}.")
        return PARAMETERIZATIONS[spec]()
    if not isinstance(spec, Pixels | FFT):
        raise ValueError(f"a parameterization is 'pixels', 'fft', Pixels(...) or FFT(...), not "
                         f"{type(spec).__name__}.")
    return spec
