"""Pictures written to disk in the format their file name asks for, whole or not at all.

A picture is encoded in memory first, written to a temporary file in the destination's folder
and then renamed onto the destination (:func:`os.replace`). So a reader never sees half a file,
a failed write leaves nothing behind, and a destination that is a symbolic link is replaced by
the picture instead of having its target overwritten (the link's target stays as it was).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, features

#: Pillow format and save options for each file name suffix. PNG and lossless WebP keep every
#: pixel; JPEG is written at quality 95 without chroma subsampling (feature-map grids have sharp
#: colour edges that 4:2:0 would smear).
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".png": ("PNG", {"compress_level": 6}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".bmp": ("BMP", {}),
}
if features.check("webp"):
    FORMATS[".webp"] = ("WEBP", {"lossless": True})

_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _suffixes() -> str:
    names = list(FORMATS)
    return ", ".join(names[:-1]) + f" or {names[-1]}"


def check_picture_path(path: str | os.PathLike[str]) -> Path:
    """The path as a :class:`~pathlib.Path` if a picture can be saved there, else a ValueError.

    Checks, without writing anything, that the suffix names a known format, that the folder
    exists and that the path is not a folder. Whether the folder can really be written is only
    known when writing (permissions, read-only file systems, a full disk).

    Raises
    ------
    ValueError
        With one sentence on what is wrong and what to do.

    Examples
    --------
    >>> check_picture_path("grid.png").name
    'grid.png'
    >>> check_picture_path("grid.gif")
    Traceback (most recent call last):
    ...
    ValueError: cannot save a picture as 'grid.gif': the file name must end in .png, ...
    """
    target = Path(path)
    if target.suffix.lower() not in FORMATS:
        raise ValueError(f"cannot save a picture as {target.name!r}: the file name must end in "
                         f"{_suffixes()}.")
    if target.is_dir() and not target.is_symlink():
        raise ValueError(f"{str(target)!r} is a folder; give a file name inside it, e.g. "
                         f"{str(target / 'picture.png')!r}.")
    folder = target.parent
    if not folder.is_dir():
        raise ValueError(f"cannot save to {str(target)!r}: the folder {str(folder)!r} does not "
                         "exist; create it first or choose another folder.")
    return target


def encode_picture(picture: np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode a uint8 picture ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` as ``fmt`` bytes.

    ``fmt`` is a Pillow format from :data:`FORMATS` (``"PNG"``, ``"JPEG"``, …), saved with the
    options given there.

    Examples
    --------
    >>> encode_picture(np.zeros((2, 3, 3), np.uint8))[:4]
    b'\\x89PNG'
    """
    array = np.asarray(picture)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype != np.uint8 or array.size == 0 or not (
            array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(f"a picture must be uint8 of shape (height, width), (height, width, 3) "
                         f"or (height, width, 4), got {array.dtype} {array.shape}.")
    if fmt == "JPEG" and array.ndim == 3 and array.shape[2] == 4:
        raise ValueError("JPEG has no alpha channel; save this RGBA picture as .png or .webp.")
    options = next(opts for name, opts in FORMATS.values() if name == fmt)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_whole(target: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Create or replace ``target`` with what ``write`` puts in a stream, all or nothing.

    ``write`` fills a temporary file in ``target``'s folder, which is then renamed onto
    ``target``; on any failure the temporary file is removed and the error (an ``OSError`` for
    the file system's refusals) propagates.
    """
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never open an existing file (or follow a planted link); 0o666 under the umask
    # gives the permissions of any new file, where mkstemp would give 0o600.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_picture(picture: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Save a uint8 picture to ``path`` in the format its suffix names, and return the path.

    ``.png`` (default compression), ``.jpg``/``.jpeg`` (quality 95), ``.bmp`` and, when Pillow
    has WebP support, ``.webp`` (lossless); see :data:`FORMATS`. An existing file is replaced
    whole; a symbolic link at ``path`` is replaced by the picture, its target left untouched.

    Raises
    ------
    ValueError
        With one sentence: unknown suffix, missing or unwritable folder, a folder at ``path``,
        a full disk, or a picture that is not uint8 ``(H, W[, 3 or 4])``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_picture(np.zeros((2, 3, 3), np.uint8), Path(folder) / "black.jpg").name
    'black.jpg'
    """
    target = check_picture_path(path)
    data = encode_picture(picture, FORMATS[target.suffix.lower()][0])
    try:
        write_whole(target, lambda stream: stream.write(data))
    except OSError as err:
        if err.errno in _REFUSED:
            raise ValueError(f"cannot save to {str(target)!r}: the folder {str(target.parent)!r} "
                             f"is not writable ({err.strerror}); choose another folder.") from None
        raise ValueError(f"could not write {str(target)!r} ({err.strerror or err}); check the "
                         "free disk space and the folder's permissions.") from None
    return target
