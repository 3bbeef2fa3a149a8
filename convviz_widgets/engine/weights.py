"""Know, cheaply, when a model's weights change, so every cache answers for the weights it has now.

Hashing every weight is exact but reads the whole model (VGG16: 528 MB) each time. A
:class:`WeightsWatch` instead reads a fixed sample of every variable — up to
:data:`SAMPLES_PER_VARIABLE` elements at positions spread over the whole tensor — and the
optimizer's step counter when the model has one, in one compiled call, and compares them with
what it read last time. Training (``model.fit`` moves every weight and counts steps),
``set_weights``/``load_weights`` with other values, and ``layer.set_weights`` are all seen; so
is any edit that touches a sampled element. An edit of a few hand-picked elements elsewhere may
be missed: call :meth:`WeightsWatch.changed` after such surgery, or clear the caches.

The exact digest that disk caches need (:meth:`WeightsWatch.fingerprint`) is computed only when
the sample says the weights changed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import tensorflow as tf

from .cache import PerModel

SAMPLES_PER_VARIABLE = 64
"""Elements read per variable on each check (all of them for smaller variables)."""


def _positions(size: int, seed: int) -> np.ndarray:
    """Fixed positions in a flattened variable: evenly spread, plus pseudo-random ones."""
    if size <= SAMPLES_PER_VARIABLE:
        return np.arange(size, dtype=np.int64)
    spread = np.linspace(0, size - 1, SAMPLES_PER_VARIABLE // 2).astype(np.int64)
    random = np.random.default_rng(seed).integers(0, size, SAMPLES_PER_VARIABLE // 2)
    return np.unique(np.concatenate([spread, random]))


class WeightsWatch:
    """Tell whether ``model``'s weights changed since the last check, at a small fixed cost.

    Parameters
    ----------
    model : keras.Model

    Attributes
    ----------
    version : int
        The weights' version; caches key by it. A check that finds weights not seen before
        gives a new version; weights seen before (a training timeline scrubbed back to an
        earlier epoch) get their earlier version back, so caches still holding their results
        serve them again.

    Examples
    --------
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> watch = WeightsWatch(model)
    >>> first = watch.check()
    >>> old = model.get_weights()
    >>> model.set_weights([w + 1 for w in old])
    >>> watch.check() == first + 1
    True
    >>> model.set_weights(old)
    >>> watch.check() == first
    True
    """

    #: How many distinct weight states keep their version (oldest forgotten first).
    REMEMBERED = 1024

    def __init__(self, model: Any) -> None:
        self.model = model
        self.version = 0
        self.checks = 0
        self._lock = threading.Lock()
        self._identities: tuple[int, ...] = ()
        self._sampler: Any = None
        self._sample: np.ndarray | None = None
        self._digest = b""
        self._versions: dict[bytes, int] = {}  # sample digest -> its version
        self._next = 1
        self._fingerprint: tuple[int, str] | None = None
        self._pins = threading.local()

    @contextmanager
    def pinned(self) -> Iterator[int]:
        """Within the block, this thread's checks return the version read on entry.

        One user action (a slider move) checks the weights once, however many caches it
        consults; blocks nest.
        """
        depth = getattr(self._pins, "depth", 0)
        if depth == 0:
            self._pins.version = self.check()
        self._pins.depth = depth + 1
        try:
            yield self._pins.version
        finally:
            self._pins.depth = depth

    def check(self) -> int:
        """Read the sample; return :attr:`version`, increased if the weights changed."""
        if getattr(self._pins, "depth", 0):
            return int(self._pins.version)
        with self._lock:
            variables = tuple(self.model.weights)
            identities = tuple(map(id, variables))
            if identities != self._identities or self._sampler is None:
                # New variables (a rebuilt layer): a new sampler, and nothing known holds.
                if self._sampler is not None:
                    self._forget()
                self._identities, self._sampler = identities, self._build_sampler(variables)
            sample = np.asarray(self._sampler())
            optimizer = getattr(self.model, "optimizer", None)
            iterations = getattr(optimizer, "iterations", None)
            if iterations is not None:
                sample = np.append(sample, np.float64(int(iterations)))
            self.checks += 1
            self._sample = sample
            digest = hashlib.blake2b(sample.tobytes(), digest_size=16).digest()
            if digest != self._digest:
                self._digest = digest
                self.version = self._versions.get(digest) or self._new_version(digest)
            return self.version

    def changed(self) -> int:
        """Declare the weights changed (after editing elements a check may not sample): a new
        version, and no earlier one is given back from then on."""
        with self._lock:
            self._forget()
            return self.version

    def _new_version(self, digest: bytes) -> int:
        version, self._next = self._next, self._next + 1
        self._versions[digest] = version
        while len(self._versions) > self.REMEMBERED:
            del self._versions[next(iter(self._versions))]
        return version

    def _forget(self) -> None:
        self._versions.clear()
        self.version = self._new_version(self._digest)

    def fingerprint(self) -> str:
        """A digest of every weight's values, shape and dtype (exact; recomputed only after a
        check saw a change): the key of caches kept on disk."""
        version = self.check()
        if self._fingerprint is None or self._fingerprint[0] != version:
            digest = hashlib.blake2b(digest_size=16)
            for weight in self.model.weights:
                values = np.ascontiguousarray(np.asarray(weight))
                digest.update(f"{values.dtype}{values.shape}".encode())
                digest.update(values.tobytes())
            self._fingerprint = (version, digest.hexdigest())
        return self._fingerprint[1]

    @staticmethod
    def _build_sampler(variables: tuple[Any, ...]) -> Any:
        picks = [tf.constant(_positions(int(np.prod(v.shape)), seed))
                 for seed, v in enumerate(variables)]

        def sample() -> tf.Tensor:
            if not variables:
                return tf.zeros((0,), tf.float64)
            # Gather first, cast after: only the sample is converted, never a whole variable.
            parts = [tf.cast(tf.gather(tf.reshape(tf.convert_to_tensor(v), [-1]), positions),
                             tf.float64)
                     for v, positions in zip(variables, picks, strict=True)]
            return tf.concat(parts, axis=0)

        return tf.function(sample)


_WATCHES: PerModel[WeightsWatch] = PerModel(lambda model, _preprocess: WeightsWatch(model))


def weights_watch(model: Any) -> WeightsWatch:
    """The one :class:`WeightsWatch` of ``model``, shared by every cache built on it."""
    return _WATCHES.get(model)
