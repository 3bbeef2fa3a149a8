"""What a widget compares itself with: another model of the same architecture, or an epoch of
its timeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.compare import architecture_difference
from ..engine.probe import ActivationProbe
from ..engine.timeline import Timeline
from .base import probe_for


@dataclass(frozen=True)
class Comparison:
    """The other side of a comparison: its probe and how it is called on screen."""

    probe: ActivationProbe
    label: str

    @classmethod
    def of(cls, probe: ActivationProbe, compare: Any, timeline: Timeline | None,
           preprocess: Callable[[np.ndarray], Any] | None,
           input_shape: tuple[int | None, ...] | None) -> Comparison | None:
        """The comparison a widget was asked for (None for none), checked to be comparable."""
        if compare is None:
            return None
        if isinstance(compare, int) and not isinstance(compare, bool):
            if timeline is None:
                raise ValueError(f"compare={compare} names an epoch, but the widget has no "
                                 "timeline; give compare= another model, or a timeline.")
            other = probe_for(timeline.model_at(compare), preprocess, input_shape)
            label = f"epoch {compare}"
        else:
            other = probe_for(compare, preprocess, input_shape)
            label = str(getattr(other.model, "name", ""))
            if not label or label == getattr(probe.model, "name", None):
                label = "the other model"
        if other.model is probe.model:
            raise ValueError("compare= is the widget's own model; give another model of the "
                             "same architecture (or, with a timeline, an epoch).")
        if other.input_spec != probe.input_spec:
            raise ValueError(f"the compared model takes {other.input_spec}, not "
                             f"{probe.input_spec}; compare models of the same architecture.")
        mismatch = architecture_difference(probe.layers, other.layers)
        if mismatch is not None:
            raise ValueError(f"cannot compare: {mismatch}.")
        return cls(other, label)
