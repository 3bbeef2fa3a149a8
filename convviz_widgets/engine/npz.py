"""Arrays in ``.npz`` files, read without trusting the file.

A cache folder or a recorded timeline may hold anything: a corrupt or truncated file, a file of
another program, a small zip bomb. :func:`read_npz` checks the archive's directory against a
size bound before anything is decompressed, checks every array header before anything is
allocated, refuses pickled objects, and raises :class:`BadArchive` (a ``ValueError``) saying
what is wrong.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import IO

import numpy as np


class BadArchive(ValueError):
    """An ``.npz`` file that is not what its reader expects."""


def _read_npy(stream: IO[bytes], stored: int) -> np.ndarray:
    """An array from a ``.npy`` stream, its header checked before anything is allocated."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise BadArchive(f"unknown .npy version {version}")
    if dtype.hasobject:
        raise BadArchive("it holds Python objects")
    size = math.prod(shape) * dtype.itemsize
    if size > stored:
        raise BadArchive(f"an array header claims {size} bytes but {stored} are stored")
    data = stream.read(size)
    if len(data) != size:
        raise BadArchive("it is truncated")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()


def read_npz(path: Path, limit: int, names: tuple[str, ...] | None = None
             ) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path``, by name.

    Parameters
    ----------
    path : Path
    limit : int
        Most bytes the arrays may unpack to, checked from the archive's directory first.
    names : tuple of str, optional
        The exact array names expected (sorted), when known.

    Raises
    ------
    BadArchive, OSError, zipfile.BadZipFile
        For a file that is not such an archive.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npz"
    >>> np.savez(path, x=np.arange(3))
    >>> read_npz(path, limit=1024)["x"].tolist()
    [0, 1, 2]
    >>> read_npz(path, limit=8)
    Traceback (most recent call last):
    ...
    convviz_widgets.engine.npz.BadArchive: it unpacks to 152 bytes, more than the 8 expected
    """
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        found = tuple(sorted(member.filename.removesuffix(".npy") for member in members))
        if names is not None and found != tuple(sorted(names)):
            raise BadArchive(f"it holds {list(found)}, not {sorted(names)}")
        total = sum(member.file_size for member in members)
        if total > limit:
            raise BadArchive(f"it unpacks to {total} bytes, more than the {limit} expected")
        arrays = {}
        for member in members:
            with archive.open(member) as stream:
                arrays[member.filename.removesuffix(".npy")] = _read_npy(stream,
                                                                        member.file_size)
    return arrays
