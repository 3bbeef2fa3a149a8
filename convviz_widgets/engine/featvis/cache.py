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
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import ByteLRU
from ..files import write_whole
from ..layers import LayerInfo, discover_layers
from ..npz import BadArchive, read_npz
from ..weights import weights_watch
from .objectives import channels, neurons
from .optimize import Cancel, StepRecord, dead_mask, to_display, visualizer_for
from .settings import TUTORIAL, FeatVisSettings, preset

#: Most bytes a pattern file may unpack to when the expected image size is not known: 64 MiB,
#: a 2048 × 2048 RGBA float32 image. Patterns have the model's input size (a few hundred pixels
#: a side), so this is generous; with the size known, the bound is that image plus 1 MiB.
MAX_PATTERN_BYTES = 64 * 2**20
_META_TYPES = {"layer": str, "filter": int, "dead": bool, "display": str}
_DISPLAYS = ("deprocess", "clip")


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


class BadPatternFile(BadArchive):
    """A pattern file that is not one this cache wrote for the key it was asked for."""


def read_pattern(path: Path, layer: str | None = None, index: int | None = None,
                 shape: tuple[int, int, int] | None = None) -> FilterPattern:
    """The pattern stored in ``path``, checked to be what this cache writes.

    The archive's member sizes are checked against a bound (the expected image, or
    :data:`MAX_PATTERN_BYTES`) before anything is decompressed; then the image must be a finite
    float32 ``(H, W, 1 or 3)`` array (``shape`` when given), the history 1-D floats, and the
    meta JSON must name ``layer`` and filter ``index`` when given.

    Raises
    ------
    BadPatternFile, OSError, zipfile.BadZipFile, …
        For any file that is not such a pattern.
    """
    limit = MAX_PATTERN_BYTES if shape is None else 4 * math.prod(shape) + 2**20
    try:
        arrays = read_npz(path, limit, names=("history", "image", "meta"))
    except BadArchive as err:
        raise BadPatternFile(str(err)) from None
    image, history, meta = arrays["image"], arrays["history"], _meta(arrays["meta"])
    if image.dtype != np.float32 or image.ndim != 3 or image.shape[2] not in (1, 3) or (
            shape is not None and image.shape != tuple(shape)):
        raise BadPatternFile(f"its image is {image.dtype} {image.shape}, not float32 "
                             f"{tuple(shape) if shape else '(H, W, 1 or 3)'}")
    if not np.isfinite(image).all():
        raise BadPatternFile("its image has NaN or infinite values")
    if history.ndim != 1 or history.dtype.kind != "f":
        raise BadPatternFile(f"its history is {history.dtype} {history.shape}, not 1-D floats")
    if (layer is not None and meta["layer"] != layer) or (
            index is not None and meta["filter"] != index):
        raise BadPatternFile(f"it holds filter {meta['filter']} of {meta['layer']!r}, not "
                             f"filter {index} of {layer!r}")
    return FilterPattern(layer=meta["layer"], filter=meta["filter"], image=image,
                         history=history.astype(np.float32), dead=meta["dead"],
                         display=meta["display"])


def _meta(stored: np.ndarray) -> dict[str, Any]:
    if stored.shape != () or stored.dtype.kind != "U":
        raise BadPatternFile(f"its meta is {stored.dtype} {stored.shape}, not a JSON string")
    meta = json.loads(str(stored))
    if not isinstance(meta, dict) or set(meta) != set(_META_TYPES) or any(
            type(meta[name]) is not kind for name, kind in _META_TYPES.items()):
        raise BadPatternFile(f"its meta {str(stored)[:80]!r} lacks layer, filter, dead or display")
    if meta["display"] not in _DISPLAYS:
        raise BadPatternFile(f"its display {meta['display']!r} is not one of {_DISPLAYS}")
    return meta


class PatternCache:
    """Filter patterns in a bounded in-memory cache, backed by ``.npz`` files in ``folder``.

    The folder is never trusted: a file that cannot be read as the pattern asked for (corrupt,
    truncated, foreign, of the wrong shape, or a zip bomb, which is refused from its directory
    before anything is decompressed) is skipped, so the pattern is computed again and the file
    rewritten; :attr:`bad_entries` counts such files and :attr:`last_bad_entry` says why. A
    folder that cannot be written keeps patterns in memory only, leaves no temporary file, and
    :attr:`write_error` says so; nothing raises.

    Parameters
    ----------
    folder : str or Path, optional
        Where patterns are read from and written to; memory only when omitted.
    max_bytes : int
        Memory budget (least recently used patterns are dropped first; disk files stay).

    Attributes
    ----------
    disk_hits : int
        Patterns read from the folder.
    last_bad_entry : str or None
        The latest unreadable file, as a sentence for a status line.
    write_error : str or None
        Set once a pattern could not be written to the folder, as a sentence naming it.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with open(f"{folder}/{'0' * 32}.npz", "w") as junk:
    ...         _ = junk.write("not a pattern")
    ...     cache = PatternCache(folder)
    ...     cache.get("0" * 32), cache.bad_entries
    (None, 1)
    """

    def __init__(self, folder: str | Path | None = None, max_bytes: int = 256 * 2**20) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._memory: ByteLRU[FilterPattern] = ByteLRU(max_bytes)
        self.disk_hits = 0
        self._bad: set[str] = set()
        self.last_bad_entry: str | None = None
        self.write_error: str | None = None

    @property
    def bad_entries(self) -> int:
        """Files of the folder found unreadable (and not rewritten since)."""
        return len(self._bad)

    @staticmethod
    def key(model: Any, layer: str, index: int, settings: FeatVisSettings,
            preprocess: Callable[..., Any] | None = None) -> str:
        """The cache key of one filter's pattern."""
        parts = [weights_fingerprint(model), layer, str(index), settings.key(),
                 _function_name(preprocess)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    def get(self, key: str, layer: str | None = None, index: int | None = None,
            shape: tuple[int, int, int] | None = None) -> FilterPattern | None:
        """The pattern under ``key``, from memory or else from disk, or ``None``.

        ``layer``, ``index`` and the image ``shape``, when given, are what a file on disk must
        hold to be used (see :func:`read_pattern`); a file that does not is treated as missing.
        """
        pattern = self._memory.get(key)
        if pattern is None and self.folder is not None:
            path = self.folder / f"{key}.npz"
            if not path.is_file():
                return None
            try:
                pattern = read_pattern(path, layer, index, shape)
            except Exception as err:  # anything in the folder may be broken: skip it, say why
                self._bad.add(key)
                reason = str(err) or type(err).__name__
                self.last_bad_entry = (f"the cache file {path.name!r} was skipped ({reason}); "
                                       "its pattern will be computed again")
                return None
            self.disk_hits += 1
            self._memory.put(key, pattern, pattern.nbytes)
        return pattern

    def put(self, key: str, pattern: FilterPattern) -> None:
        """Keep ``pattern`` in memory and, with a folder, write it to disk (see
        :attr:`write_error` for a folder that cannot be written)."""
        self._memory.put(key, pattern, pattern.nbytes)
        if self.folder is None:
            return
        meta = json.dumps({"layer": pattern.layer, "filter": pattern.filter,
                           "dead": pattern.dead, "display": pattern.display})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_whole(self.folder / f"{key}.npz", lambda stream: np.savez(
                stream, image=pattern.image, history=pattern.history, meta=np.array(meta)))
        except OSError as err:
            self.write_error = (f"could not write patterns to the folder {str(self.folder)!r} "
                                f"({err.strerror or err}); they are kept in memory only, so "
                                "choose a writable folder to keep them")
            return
        self._bad.discard(key)

    def __len__(self) -> int:
        return len(self._memory)


_DEFAULT_CACHE = PatternCache()


def shared_pattern_cache() -> PatternCache:
    """The in-memory pattern cache that galleries and :func:`pattern_steps` share by default."""
    return _DEFAULT_CACHE


def conv_layer(model: Any, info: LayerInfo) -> LayerInfo:
    """``info`` if it is a ``Conv2D`` layer (whose filters have patterns), else a ValueError
    naming one that is."""
    if info.class_name == "Conv2D":
        return info
    convs = [other.path for other in discover_layers(model) if other.class_name == "Conv2D"]
    if not convs:
        raise ValueError(f"layer {info.path!r} ({info.class_name}) has no conv filters to "
                         "optimize, and the model has no Conv2D layer that has.")
    raise ValueError(f"layer {info.path!r} ({info.class_name}) has no conv filters to optimize; "
                     f"choose a Conv2D layer such as {convs[-1]!r}.")


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
    info = conv_layer(visualizer.model, visualizer.layer(layer))
    path, count = info.path, int(info.channels or 0)
    outside = [int(f) for f in filters if not 0 <= int(f) < count]
    if outside:
        raise ValueError(f"filter {outside[0]} is out of range for layer {path!r}, whose {count} "
                         f"filters are numbered 0 to {count - 1}; choose filters in that range.")
    model, preprocess = visualizer.model, visualizer.preprocess
    shape = visualizer.image_shape(settings)
    keys = {int(f): PatternCache.key(model, path, int(f), settings, preprocess) for f in filters}
    found = {f: cache.get(k, path, f, shape) for f, k in keys.items()}
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
    """Compute (or load) the patterns of ``filters`` of a ``Conv2D`` layer, stored in ``folder``.

    A gallery opened later on the same model, layer and settings with a :class:`PatternCache`
    on that folder shows them without optimizing anything.

    Returns
    -------
    list of FilterPattern
        In the order of ``filters``.

    Raises
    ------
    ValueError
        For a layer that is not ``Conv2D``, filters out of its range, or a folder that cannot be
        written (checked before optimizing, and again after).
    """
    cache = PatternCache(folder)
    updates = pattern_steps(model, layer, filters, settings, preprocess=preprocess, cache=cache,
                            batch_size=batch_size)
    found = next(updates)  # checks the layer and filters, and reads what the folder holds
    if cache.folder is not None:
        check_writable(cache.folder)
    patterns: dict[int, FilterPattern] = {p.filter: p for p in found.finished}
    for update in updates:
        patterns.update({p.filter: p for p in update.finished})
    if cache.write_error:
        raise ValueError(f"{cache.write_error}.")
    return [patterns[int(f)] for f in filters]


def check_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write and remove a file in it, or raise a ValueError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".convviz-write-check"
        write_whole(probe, lambda stream: None)
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot store patterns in the folder {str(folder)!r} "
                         f"({err.strerror or err}); choose a writable folder.") from None
