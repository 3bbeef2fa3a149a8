"""Caches are bounded by the bytes they really hold: no view keeps a larger buffer alive, and
memory stays within the budgets however many images go by."""

from __future__ import annotations

import gc

import numpy as np
import psutil

from convviz_widgets import CAMOverlay, zoo
from convviz_widgets.engine.cache import ByteLRU
from convviz_widgets.engine.probe import ActivationProbe


def owner(array: np.ndarray) -> object:
    """The object that owns an array's memory (an ndarray, or the buffer it was made from)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array if array.base is None else array.base


def held_bytes(arrays: list[np.ndarray]) -> int:
    """Bytes kept alive by ``arrays``: each owning buffer once, whole."""
    owners = {id(owner(a)): owner(a) for a in arrays}
    return int(sum(getattr(o, "nbytes", 0) for o in owners.values()))


def arrays_of(value: object) -> list[np.ndarray]:
    found = []
    for item in vars(value).values():
        if isinstance(item, np.ndarray):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(v for v in item.values() if isinstance(v, np.ndarray))
        elif isinstance(item, tuple):
            found.extend(v for v in item if isinstance(v, np.ndarray))
    return found


def cache_arrays(cache: ByteLRU) -> list[np.ndarray]:
    return [a for value in cache.values() for a in arrays_of(value)]


def scenes(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(count)]


def test_every_cache_counts_exactly_the_bytes_it_keeps_alive():
    # The gradient cache used to count row 0 of a k-target batch while the whole batch buffer
    # stayed alive (1.7× its count); each cache must hold what it counts, no more.
    probe = ActivationProbe(zoo.load_model("shapes"))
    explainer = probe.explainer()
    for image in scenes(3):
        explainer.layer_gradients.compute_top_k(image, k=5)
        explainer.explain(image, "block4_conv2", None, "gradcam").upsampled  # noqa: B018
    for cache in (probe.cache, explainer.layer_gradients.cache, explainer.cache):
        assert len(cache) == 3
        assert held_bytes(cache_arrays(cache)) == cache.nbytes


def test_memory_stays_within_the_budgets_over_two_hundred_images():
    model = zoo.load_model("shapes")
    budget = 4 * 2**20
    probe = ActivationProbe(model, cache_bytes=budget)
    overlay = CAMOverlay(probe, image="star")
    gradients = overlay.explainer.layer_gradients
    gradients.cache.max_bytes = overlay.explainer.cache.max_bytes = budget
    process = psutil.Process()
    images = scenes(200)
    for image in images[:40]:
        overlay.image = image
    gc.collect()
    settled = process.memory_info().rss
    for image in images[40:]:
        overlay.image = image
    gc.collect()
    grown = process.memory_info().rss - settled
    for cache in (probe.cache, gradients.cache, overlay.explainer.cache):
        # A value larger than the whole budget is kept alone (the one in use).
        largest = max((value.nbytes for value in cache.values()), default=0)
        assert cache.nbytes <= max(cache.max_bytes, largest)
        assert held_bytes(cache_arrays(cache)) == cache.nbytes
    assert len(gradients._rows) <= 5 * len(gradients.cache)  # no index of evicted batches
    # Three 4 MiB budgets; 160 more images would hold ~1.3 GB without them.
    assert grown < 64 * 2**20, f"memory grew by {grown / 2**20:.0f} MiB over 160 images"
