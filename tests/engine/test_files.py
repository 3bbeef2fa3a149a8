"""Saving pictures: the format the suffix names, whole files only, never through a symlink."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from PIL import Image

from convviz_widgets.engine import files
from convviz_widgets.engine.files import FORMATS, encode_picture, write_picture
from convviz_widgets.export import save_grid

PICTURE = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3) * 5


@pytest.mark.parametrize("suffix", [".png", ".PNG", ".bmp", ".webp"])
def test_lossless_formats_keep_every_pixel(tmp_path, suffix):
    if suffix == ".webp" and ".webp" not in FORMATS:
        pytest.skip("this Pillow has no WebP support")
    path = write_picture(PICTURE, tmp_path / f"grid{suffix}")
    with Image.open(path) as written:
        assert written.format == FORMATS[suffix.lower()][0]
        np.testing.assert_array_equal(np.asarray(written.convert("RGB")), PICTURE)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_is_rgb_at_high_quality(tmp_path, suffix):
    smooth = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 32, axis=0)
    picture = np.repeat(smooth, 3, axis=2)
    path = write_picture(picture, tmp_path / f"grid{suffix}")
    with Image.open(path) as written:
        assert written.format == "JPEG" and written.mode == "RGB"
        assert np.abs(np.asarray(written, np.int16) - picture).max() <= 3


def test_save_grid_writes_what_its_suffix_names(tmp_path):
    with Image.open(save_grid(PICTURE, tmp_path / "grid.jpg")) as written:
        assert written.format == "JPEG"


@pytest.mark.parametrize("name", ["grid.gif", "grid", "grid.png.txt"])
def test_an_unknown_suffix_is_refused_with_a_sentence(tmp_path, name):
    with pytest.raises(ValueError, match=rf"^cannot save a picture as '{name}': the file name "
                                         r"must end in \.png, .*\.$"):
        write_picture(PICTURE, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("save", [write_picture, save_grid])
def test_a_symlink_is_replaced_and_its_target_left_alone(tmp_path, save):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "grid.png"
    link.symlink_to(target)
    save(PICTURE, link)
    assert target.read_text() == "keep me"
    assert not link.is_symlink()
    np.testing.assert_array_equal(np.asarray(Image.open(link)), PICTURE)


def test_an_existing_file_is_replaced_with_normal_permissions(tmp_path):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")
    write_picture(PICTURE, path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), PICTURE)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_a_missing_folder_or_a_folder_path_is_one_sentence(tmp_path):
    with pytest.raises(ValueError, match=r"the folder '.*missing' does not exist; create it "
                                         r"first or choose another folder\.$"):
        write_picture(PICTURE, tmp_path / "missing" / "grid.png")
    (tmp_path / "out.png").mkdir()
    with pytest.raises(ValueError, match=r"'.*out.png' is a folder; give a file name inside it"):
        write_picture(PICTURE, tmp_path / "out.png")


def test_a_read_only_folder_is_one_sentence_and_leaves_nothing(read_only_folder):
    with pytest.raises(ValueError, match=r"is not writable \(Permission denied\); choose another "
                                         r"folder\.$"):
        write_picture(PICTURE, read_only_folder / "grid.png")
    assert list(read_only_folder.iterdir()) == []


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def disk_full(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", disk_full)
    with pytest.raises(ValueError, match=r"could not write '.*grid.png' \(No space left on "
                                         r"device\); check the free disk space"):
        write_picture(PICTURE, tmp_path / "grid.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("picture", "fmt", "message"),
    [(PICTURE.astype(np.float32), "PNG", r"must be uint8 .* got float32 \(6, 8, 3\)"),
     (PICTURE[..., :2], "PNG", r"got uint8 \(6, 8, 2\)"),
     (np.zeros((2, 2, 4), np.uint8), "JPEG", "JPEG has no alpha channel")],
)
def test_pictures_that_cannot_be_encoded_are_refused(picture, fmt, message):
    with pytest.raises(ValueError, match=message):
        encode_picture(picture, fmt)
