"""The top-k inputs of every channel over a stream of batches, in memory independent of N.

The first piece of the dataset-examples index (which images excite a channel most, and where):
each batch's feature maps are reduced to one maximum per image and channel, with its position,
and merged into a running top-k per channel. Ties keep the earlier image, so the result does
not depend on how the stream is cut into batches.
"""

from __future__ import annotations

import numpy as np


def channel_maxima(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's maximum per channel and where it is.

    Parameters
    ----------
    maps : numpy.ndarray
        A batch of feature maps ``(B, H, W, C)``.

    Returns
    -------
    maxima : numpy.ndarray
        ``(B, C)`` float32.
    positions : numpy.ndarray
        ``(B, C, 2)`` int32 (row, column) of the first maximum in row-major order.

    Examples
    --------
    >>> maps = np.zeros((1, 2, 3, 1), np.float32); maps[0, 1, 2, 0] = 5
    >>> maxima, positions = channel_maxima(maps)
    >>> maxima.tolist(), positions.tolist()
    ([[5.0]], [[[1, 2]]])
    """
    batch, height, width, channels = maps.shape
    flat = maps.reshape(batch, height * width, channels)
    where = flat.argmax(axis=1)  # (B, C)
    maxima = np.take_along_axis(flat, where[:, None, :], axis=1)[:, 0, :]
    rows, columns = np.divmod(where, width)
    return maxima.astype(np.float32), np.stack([rows, columns], axis=-1).astype(np.int32)


class RunningTopK:
    """The ``k`` largest values seen per channel, with the ids and positions that go with them.

    Parameters
    ----------
    channels : int
        Number of channels.
    k : int
        How many to keep per channel.

    Examples
    --------
    >>> top = RunningTopK(channels=1, k=2)
    >>> _ = top.update(np.array([[1.0], [3.0]]), np.zeros((2, 1, 2), int), ids=np.array([10, 11]))
    >>> top.update(np.array([[2.0]]), np.zeros((1, 1, 2), int), ids=np.array([12])).tolist()
    [[0, 2]]
    >>> top.values.tolist(), top.ids.tolist()
    ([[3.0, 2.0]], [[11, 12]])
    """

    def __init__(self, channels: int, k: int) -> None:
        if k < 1 or channels < 1:
            raise ValueError(f"k and channels must be at least 1, got k={k}, "
                             f"channels={channels}.")
        self.k = int(k)
        self.values = np.full((channels, 0), -np.inf, np.float32)
        self.ids = np.zeros((channels, 0), np.int64)
        self.positions = np.zeros((channels, 0, 2), np.int32)

    def update(self, maxima: np.ndarray, positions: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Merge a batch: ``maxima`` ``(B, C)``, ``positions`` ``(B, C, 2)``, ``ids`` ``(B,)``
        (each image's number in the stream, increasing).

        Only the positions of entries that enter the top-k are read, so those of the others
        may be left unknown (see :func:`entering`).

        Returns where each kept entry came from, ``(C, k)``: below the number of entries kept
        before, that earlier entry's slot; from there on, ``B`` rows of the batch (the image's
        row in the batch plus that number). Data kept beside the values (thumbnails) is
        carried along with it.
        """
        channels, before = self.values.shape
        values = np.concatenate([self.values, np.asarray(maxima, np.float32).T], axis=1)
        ids = np.concatenate([self.ids, np.broadcast_to(np.asarray(ids, np.int64),
                                                        (channels, len(ids)))], axis=1)
        # Largest first; among equal values the earlier id (lexsort: last key is primary).
        order = np.lexsort((ids, -values), axis=1)[:, : self.k]
        lines = np.arange(channels)[:, None]
        self.values, self.ids = values[lines, order], ids[lines, order]
        kept = (self.positions[lines, np.minimum(order, before - 1)] if before
                else np.zeros((*order.shape, 2), np.int32))
        slots, places = np.nonzero(order >= before)  # (channel, slot) of the batch's entries
        kept[slots, places] = np.asarray(positions)[order[slots, places] - before, slots]
        self.positions = kept.astype(np.int32, copy=False)
        return order


def entering(top: RunningTopK, maxima: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, channel) pairs of a batch's ``maxima`` ``(B, C)`` that may enter ``top``.

    Each channel's ``k`` largest in the batch (equal values: the earlier row) that beat the
    ``k``-th value kept (an equal one never enters: the kept entry is earlier). Kept values only
    grow, so pairs found against an older state of ``top`` are a superset of those that enter:
    the positions of a batch can be found while the batch before it is still being merged.

    Examples
    --------
    >>> top = RunningTopK(channels=1, k=2)
    >>> _ = top.update(np.array([[5.0], [3.0]]), np.zeros((2, 1, 2), int), np.array([0, 1]))
    >>> [r.tolist() for r in entering(top, np.array([[4.0], [3.0], [6.0]]))]
    [[0, 2], [0, 0]]
    """
    values = top.values  # read once: a merge may put a new array in its place meanwhile
    batch, channels = maxima.shape
    above = (maxima > values[:, -1] if values.shape[1] >= top.k
             else np.ones((batch, channels), bool))
    if above.sum(axis=0).max(initial=0) <= top.k:  # the usual case once the top-k are full
        rows, channels_above = np.nonzero(above)
        return rows, channels_above
    best = np.argsort(-maxima, axis=0, kind="stable")[: top.k]  # (k, C) rows, largest first
    chosen = np.zeros((batch, channels), bool)
    chosen[best, np.arange(channels)] = True
    rows, channels_chosen = np.nonzero(chosen & above)
    return rows, channels_chosen


def first_peaks(maps: np.ndarray, rows: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """The (row, column) of the first maximum, in row-major order, of the maps of pairs.

    Parameters
    ----------
    maps : numpy.ndarray
        A batch of feature maps ``(B, H, W, C)``.
    rows, channels : numpy.ndarray
        ``(n,)`` images of the batch and channels, pair by pair.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` int32, as :func:`channel_maxima` gives for those pairs.

    Examples
    --------
    >>> maps = np.zeros((2, 2, 3, 2), np.float32); maps[1, 1, 2, 0] = 5; maps[0, 0, 1, 1] = 3
    >>> first_peaks(maps, np.array([1, 0]), np.array([0, 1])).tolist()
    [[1, 2], [0, 1]]
    """
    batch, height, width, _ = maps.shape
    where = maps.reshape(batch, height * width, -1)[rows, :, channels].argmax(axis=1)
    return np.stack(np.divmod(where, width), axis=-1).astype(np.int32)
