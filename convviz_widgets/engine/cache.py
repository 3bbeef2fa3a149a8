"""Caches: a least-recently-used cache bounded by bytes, and one shared instance per model."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class ByteLRU(Generic[V]):
    """Keep the most recently used values whose sizes add up to at most ``max_bytes``.

    A value larger than the whole budget is still kept, alone, so that the item in use is never
    evicted by its own insertion. ``nbytes`` given to :meth:`put` must be what the value really
    holds (arrays that are views of larger buffers keep the whole buffer alive: store copies).
    Safe to use from several threads; ``on_evict(key)`` is called for each value dropped to
    make room.

    Examples
    --------
    >>> cache = ByteLRU(max_bytes=10)
    >>> cache.put("a", "first", nbytes=6)
    >>> cache.put("b", "second", nbytes=6)  # evicts "a"
    >>> "a" in cache, cache.get("b")
    (False, 'second')
    """

    def __init__(self, max_bytes: int,
                 on_evict: Callable[[Hashable], None] | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.on_evict = on_evict
        self._lock = threading.RLock()
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached values."""
        return self._bytes

    def get(self, key: Hashable) -> V | None:
        """Return the value for ``key`` (marking it most recently used), or ``None``."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: V, nbytes: int) -> None:
        """Store ``value`` under ``key``, evicting the least recently used values to fit."""
        evicted_keys = []
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            while self._items and self._bytes + nbytes > self.max_bytes:
                old, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted
                evicted_keys.append(old)
            self._items[key] = (value, int(nbytes))
            self._bytes += int(nbytes)
        if self.on_evict is not None:
            for old in evicted_keys:
                self.on_evict(old)

    def values(self) -> list[V]:
        """The cached values, least recently used first."""
        with self._lock:
            return [value for value, _ in self._items.values()]

    def clear(self) -> None:
        """Drop every value."""
        with self._lock:
            keys = list(self._items)
            self._items.clear()
            self._bytes = 0
        if self.on_evict is not None:
            for old in keys:
                self.on_evict(old)


class PerModel(Generic[V]):
    """One instance per ``(model, preprocess)`` pair, alive only while something holds it.

    Entries are keyed by the two objects' ids and hold the instances weakly. An instance keeps
    its model alive, so the ids cannot be reused while its entry exists; once every widget has
    let go of it, the entry, the instance and the model can all be freed (a dictionary keyed by
    the model itself would keep every model forever, its values pointing back at the key).
    """

    def __init__(self, build: Callable[..., V]) -> None:
        self._build = build
        self._instances: weakref.WeakValueDictionary[tuple[int, int], Any] = (
            weakref.WeakValueDictionary())

    def get(self, model: Any, preprocess: Any = None, **options: Any) -> V:
        """The instance for ``(model, preprocess)``, built on first use (with ``options``)."""
        key = (id(model), id(preprocess))
        instance = self._instances.get(key)
        if instance is None:
            instance = self._build(model, preprocess, **options)
            self._instances[key] = instance
        return instance
