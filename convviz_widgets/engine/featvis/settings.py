"""Settings of an activation-maximization run, and the "tutorial" and "clean" presets."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from typing import Any

from .parameterizations import FFT, Parameterization, Pixels, parameterization
from .regularizers import L2, Blur, Regularizer, TotalVariation
from .transforms import Jitter, Rotate, Scale, Transform

OBJECTIVES = ("channel", "neuron")
DISPLAYS = ("deprocess", "clip")
DTYPES = ("float32", "bfloat16")
MAX_STEPS_VARIABLE = "CONVVIZ_MAX_STEPS"


@dataclass(frozen=True)
class FeatVisSettings:
    """How filter patterns are computed; frozen and hashable, so it can key a cache.

    Attributes
    ----------
    parameterization : Pixels or FFT (or "pixels", "fft")
        How the image is represented (see :mod:`.parameterizations`).
    steps : int
        Gradient-ascent steps (capped by the ``CONVVIZ_MAX_STEPS`` environment variable).
    step_size : float
        Each step adds ``step_size × gradient / (RMS(gradient) + 1e-5)`` to the parameters
        (seed S2's normalized gradient ascent; per image).
    size : int
        Image height and width when the model accepts any size (otherwise its own input size).
    objective : {"channel", "neuron"}
        What a filter's pattern maximizes: the channel's mean, or its centre unit.
    transforms : tuple
        Random :class:`~.transforms.Jitter`, :class:`~.transforms.Scale`,
        :class:`~.transforms.Rotate` applied before every step, in order.
    regularizers : tuple
        :class:`~.regularizers.L2`, :class:`~.regularizers.TotalVariation`,
        :class:`~.regularizers.Blur` penalties.
    display : {"deprocess", "clip"}
        How results become uint8: S2's ``deprocess_image`` (contrast-stretched around the
        mean) or the pixels as they are, clipped to 0–255.
    seed : int
        Seeds the initial image and the random transforms: runs are reproducible.
    dtype : {"float32", "bfloat16"}
        ``"bfloat16"`` (experimental) runs the truncated model as a mixed-precision copy.
    """

    parameterization: Parameterization = field(default_factory=Pixels)
    steps: int = 40
    step_size: float = 1.0
    size: int = 150
    objective: str = "channel"
    transforms: tuple[Transform, ...] = ()
    regularizers: tuple[Regularizer, ...] = ()
    display: str = "deprocess"
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameterization", parameterization(self.parameterization))
        object.__setattr__(self, "transforms", tuple(self.transforms))
        object.__setattr__(self, "regularizers", tuple(self.regularizers))
        if self.steps < 0 or self.size < 1 or not self.step_size > 0:
            raise ValueError("steps must be ≥ 0, size ≥ 1 and step_size > 0.")
        for name, value, allowed in (("objective", self.objective, OBJECTIVES),
                                     ("display", self.display, DISPLAYS),
                                     ("dtype", self.dtype, DTYPES)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; use one of {', '.join(allowed)}.")

    def replace(self, **changes: Any) -> FeatVisSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def effective_steps(self) -> int:
        """``steps``, capped by ``CONVVIZ_MAX_STEPS`` when that is set (tests, notebooks in CI)."""
        return capped_steps(self.steps)

    def key(self) -> str:
        """A stable digest of every setting, with the step count as it will actually run."""
        text = repr(replace(self, steps=self.effective_steps))
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def capped_steps(steps: int) -> int:
    """``steps``, or the ``CONVVIZ_MAX_STEPS`` environment variable when smaller."""
    raw = os.environ.get(MAX_STEPS_VARIABLE, "").strip()
    if not raw:
        return steps
    try:
        cap = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_STEPS_VARIABLE}={raw!r} is not a whole number; set it to a "
                         "step count such as 3, or unset it.") from None
    return max(0, min(steps, cap))


#: Seed S2 (Chollet, *Deep Learning with Python* §5.4): gray-noise pixels, 40 normalized
#: gradient-ascent steps of size 1, 150×150 when the model takes any size, ``deprocess_image``.
TUTORIAL = FeatVisSettings()

#: FFT parameterization with decorrelated colour, jitter/scale/rotate and mild regularization
#: (Olah, Mordvintsev & Schubert, 2017, "Feature Visualization", Distill).
CLEAN = FeatVisSettings(
    parameterization=FFT(),
    steps=64,
    step_size=0.02,
    transforms=(Jitter(4), Scale(0.95, 1.05), Rotate(5.0), Jitter(2)),
    regularizers=(L2(0.02), TotalVariation(0.2), Blur(0.1, 0.5)),
    display="clip",
)

PRESETS: dict[str, FeatVisSettings] = {"tutorial": TUTORIAL, "clean": CLEAN}


def preset(name: str | FeatVisSettings) -> FeatVisSettings:
    """The settings of a preset by name (``"tutorial"`` or ``"clean"``), or settings as given."""
    if isinstance(name, FeatVisSettings):
        return name
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}.")
    return PRESETS[name]
