"""Test-wide settings and fixtures: quiet TensorFlow logs, a read-only folder."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def read_only_folder(tmp_path, monkeypatch):
    """An existing folder that refuses new files, as a read-only one does for a normal user.

    Root ignores permission bits, so under root creating a file in it raises PermissionError
    (through ``os.open``, which ``tempfile`` and ``write_picture`` use) as well.
    """
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_open = os.open

        def refuse(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and Path(path).parent == folder:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    yield folder
    folder.chmod(0o755)
