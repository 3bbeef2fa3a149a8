"""Filter patterns cached in memory and on disk, and computed ahead for a gallery.

A pattern is keyed by a fingerprint of the model's weights, the layer path, the filter index,
the settings (with the step count as actually run) and the preprocessing function, so the same
filter of the same trained model is optimized once, whether it was asked for alone or within
any page. On disk each pattern is one ``.npz`` file in a folder, which a lecturer can fill
beforehand with :func:`precompute` and ship with a notebook.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import ByteLRU
from ..weights import weights_watch
from .objectives import channels, neurons
from .optimize import Cancel, StepRecord, dead_mask, to_display, visualizer_for
from .settings import TUTORIAL, FeatVisSettings, preset


def weights_fingerprint(model: Any) -> str:
    """An exact digest of every weight of ``model`` (values, shapes, dtypes).

    Recomputed only when the model's :class:`~convviz_widgets.engine.weights.WeightsWatch` sees
    the weights change (after training, ``set_weights``, ``load_weights``), so cached patterns
    always belong to the weights the model has now.
    """
    return weights_watch(model).fingerprint()


def _function_name(function: Callable[..., Any] | None) -> str:
    if function is None:
        return "none"
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', function)}"


@dataclass(frozen=True)
class FilterPattern:
    """What one filter responds to: its optimized image and objective curve.

    Attributes
    ----------
    layer : str
        Layer path.
    filter : int
        Filter (channel) index.
    image : numpy.ndarray
        ``(H, W, C)`` float32 on the model's input scale.
    history : numpy.ndarray
        The objective at each step ``(steps,)``.
    dead : bool
        The objective stayed exactly 0: the image is noise, not a pattern.
    display : str
        How :attr:`pixels` renders the image (``"deprocess"`` or ``"clip"``).
    """

    layer: str
    filter: int
    image: np.ndarray = field(repr=False)
    history: np.ndarray = field(repr=False)
    dead: bool
    display: str = "deprocess"

    @property
    def pixels(self) -> np.ndarray:
        """The image as uint8 RGB for display."""
        return to_display(self.image, self.display)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return int(self.image.nbytes + self.history.nbytes)


class PatternCache:
    """Filter patterns in a bounded in-memory cache, backed by ``.npz`` files in ``folder``.

    Parameters
    ----------
    folder : str or Path, optional
        Where patterns are read from and written to; memory only when omitted.
    max_bytes : int
        Memory budget (least recently used patterns are dropped first; disk files stay).
    """

    def __init__(self, folder: str | Path | None = None, max_bytes: int = 256 * 2**20) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._memory: ByteLRU[FilterPattern] = ByteLRU(max_bytes)
        self.disk_hits = 0

    @staticmethod
    def key(model: Any, layer: str, index: int, settings: FeatVisSettings,
            preprocess: Callable[..., Any] | None = None) -> str:
        """The cache key of one filter's pattern."""
        parts = [weights_fingerprint(model), layer, str(index), settings.key(),
                 _function_name(preprocess)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    def get(self, key: str) -> FilterPattern | None:
        """The pattern under ``key``, from memory or else from disk, or ``None``."""
        pattern = self._memory.get(key)
        if pattern is None and self.folder is not None:
            pattern = self._load(self.folder / f"{key}.npz")
            if pattern is not None:
                self.disk_hits += 1
                self._memory.put(key, pattern, pattern.nbytes)
        return pattern

    def put(self, key: str, pattern: FilterPattern) -> None:
        """Keep ``pattern`` in memory and, with a folder, write it to disk."""
        self._memory.put(key, pattern, pattern.nbytes)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            meta = json.dumps({"layer": pattern.layer, "filter": pattern.filter,
                               "dead": pattern.dead, "display": pattern.display})
            # Write then rename, so a reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, image=pattern.image, history=pattern.history,
                         meta=np.array(meta))
            os.replace(temporary, self.folder / f"{key}.npz")

    @staticmethod
    def _load(path: Path) -> FilterPattern | None:
        if not path.is_file():
            return None
        with np.load(path) as stored:
            meta = json.loads(str(stored["meta"]))
            return FilterPattern(layer=meta["layer"], filter=int(meta["filter"]),
                                 image=stored["image"], history=stored["history"],
                                 dead=bool(meta["dead"]), display=meta["display"])

    def __len__(self) -> int:
        return len(self._memory)


_DEFAULT_CACHE = PatternCache()


def shared_pattern_cache() -> PatternCache:
    """The in-memory pattern cache that galleries and :func:`pattern_steps` share by default."""
    return _DEFAULT_CACHE


@dataclass(frozen=True)
class PatternUpdate:
    """Progress of :func:`pattern_steps`: a step of the batch in work, and patterns finished.

    ``record`` is ``None`` for the first update, which carries the patterns found in the cache.
    """

    layer: str
    filters: tuple[int, ...]
    record: StepRecord | None
    finished: tuple[FilterPattern, ...] = ()


def pattern_steps(
    model: Any,
    layer: str,
    filters: Sequence[int] | range,
    settings: FeatVisSettings | str = TUTORIAL,
    *,
    preprocess: Callable[[Any], Any] | None = None,
    cache: PatternCache | None = None,
    cancel: Cancel | None = None,
    batch_size: int | None = None,
) -> Iterator[PatternUpdate]:
    """Patterns of ``filters`` of ``layer``: cached ones at once, the rest optimized in batches.

    The first update holds every cached pattern (no optimization runs for them). Then each
    batch of at most ``batch_size`` missing filters (default: all in one batch) yields an update
    per step, with its :class:`StepRecord` (objective values, current images); the update after
    a batch's last step holds its finished patterns, which are stored in ``cache`` (a shared
    in-memory cache by default). A cancelled batch stores nothing.
    """
    settings = preset(settings)
    cache = cache if cache is not None else _DEFAULT_CACHE
    visualizer = visualizer_for(model, preprocess)
    path = visualizer.layer(layer).path
    model, preprocess = visualizer.model, visualizer.preprocess
    keys = {int(f): PatternCache.key(model, path, int(f), settings, preprocess) for f in filters}
    found = {f: cache.get(k) for f, k in keys.items()}
    hits = tuple(p for p in found.values() if p is not None)
    yield PatternUpdate(layer=path, filters=(), record=None, finished=hits)
    missing = [f for f, p in found.items() if p is None]
    size = batch_size or max(1, len(missing))
    build = channels if settings.objective == "channel" else neurons
    for start in range(0, len(missing), size):
        batch = tuple(missing[start : start + size])
        record: StepRecord | None = None
        for record in visualizer.steps(build(path, batch), settings, cancel=cancel):
            if record.done:
                break
            yield PatternUpdate(layer=path, filters=batch, record=record)
        if record is not None and record.done:
            images, history = record.images, record.history
        elif settings.effective_steps == 0:  # capped to nothing: the starting image, as it is
            images = visualizer.initial_images(settings, len(batch))
            history = np.zeros((0, len(batch)), np.float32)
        else:
            return  # cancelled: a half-optimized image is not worth caching
        dead = dead_mask(history)
        finished = tuple(
            FilterPattern(layer=path, filter=f, image=images[i], history=history[:, i],
                          dead=bool(dead[i]), display=settings.display)
            for i, f in enumerate(batch))
        for pattern in finished:
            cache.put(keys[pattern.filter], pattern)
        yield PatternUpdate(layer=path, filters=batch, record=record, finished=finished)


def precompute(
    model: Any,
    layer: str,
    filters: Sequence[int] | range,
    settings: FeatVisSettings | str = TUTORIAL,
    folder: str | Path | None = None,
    *,
    preprocess: Callable[[Any], Any] | None = None,
    batch_size: int | None = None,
) -> list[FilterPattern]:
    """Compute (or load) the patterns of ``filters`` and store them in ``folder``.

    A gallery opened later on the same model, layer and settings with a :class:`PatternCache`
    on that folder shows them without optimizing anything.

    Returns
    -------
    list of FilterPattern
        In the order of ``filters``.
    """
    cache = PatternCache(folder)
    patterns: dict[int, FilterPattern] = {}
    for update in pattern_steps(model, layer, filters, settings, preprocess=preprocess,
                                cache=cache, batch_size=batch_size):
        patterns.update({p.filter: p for p in update.finished})
    return [patterns[int(f)] for f in filters]
