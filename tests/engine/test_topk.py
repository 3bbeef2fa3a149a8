"""The running top-k per channel equals a full sort of every image's maximum, however the
stream is cut into batches, ties to the earlier image; positions are the maxima's."""

from __future__ import annotations

import numpy as np
import pytest

from convviz_widgets.engine.topk import RunningTopK, channel_maxima, entering, first_peaks


def naive_top_k(maps: np.ndarray, k: int):
    """Per channel: every image's maximum, fully sorted (largest first, earlier image first)."""
    count, _, width, channels = maps.shape
    values, ids, positions = [], [], []
    for channel in range(channels):
        rows = []
        for image in range(count):
            plane = maps[image, :, :, channel]
            flat = int(np.argmax(plane))
            rows.append((-float(plane.max()), image, divmod(flat, width)))
        rows.sort(key=lambda row: (row[0], row[1]))
        values.append([-row[0] for row in rows[:k]])
        ids.append([row[1] for row in rows[:k]])
        positions.append([row[2] for row in rows[:k]])
    return np.array(values), np.array(ids), np.array(positions)


@pytest.mark.parametrize("known", ["all", "entering", "entering, one batch late"])
@pytest.mark.parametrize("cuts", [[50], [1] * 50, [7, 13, 1, 29], [3, 47]])
def test_streamed_top_k_equals_the_full_sort(cuts, known):
    """With every position given, or only those :func:`entering` picks (the others -1), also
    when it reads the top-k as it was before the previous batch was merged (as the index's
    thread does while the main thread merges)."""
    rng = np.random.default_rng(4)
    maps = rng.integers(0, 6, (50, 4, 5, 3)).astype(np.float32)  # small integers: many ties
    top = RunningTopK(channels=3, k=4)
    stale = RunningTopK(channels=3, k=4)  # one batch behind
    start = 0
    for size in cuts:
        batch = maps[start : start + size]
        maxima, positions = channel_maxima(batch)
        if known != "all":
            rows, channels = entering(stale if "late" in known else top, maxima)
            assert len(rows) <= 4 * 3
            unknown = np.full_like(positions, -1)
            unknown[rows, channels] = first_peaks(batch, rows, channels)
            positions = unknown
        stale.values = top.values
        top.update(maxima, positions, np.arange(start, start + size))
        start += size
    values, ids, positions = naive_top_k(maps, 4)
    np.testing.assert_array_equal(top.values, values)
    np.testing.assert_array_equal(top.ids, ids)
    np.testing.assert_array_equal(top.positions, positions)


def test_fewer_images_than_k_and_bad_sizes():
    top = RunningTopK(channels=2, k=5)
    maxima, positions = channel_maxima(np.ones((2, 1, 1, 2), np.float32))
    top.update(maxima, positions, np.array([0, 1]))
    assert top.values.shape == (2, 2) and top.ids.tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ValueError, match="at least 1"):
        RunningTopK(channels=2, k=0)


def test_first_peaks_are_the_first_in_row_major_order():
    maps = np.zeros((2, 3, 4, 2), np.float32)
    maps[0, 2, 0, 0] = maps[0, 1, 3, 0] = 7  # row 1 comes first, though its column is later
    maps[1, :, :, 1] = -1  # a flat map: its first cell
    found = first_peaks(maps, np.array([0, 1, 1]), np.array([0, 1, 0]))
    assert found.tolist() == [[1, 3], [0, 0], [0, 0]] and found.dtype == np.int32
