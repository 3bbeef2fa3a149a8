"""PatternCache on disk: bad files are skipped and recomputed, bombs refused, writes never raise."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from convviz_widgets.engine import featvis
from convviz_widgets.engine.featvis import TUTORIAL, PatternCache, pattern_steps, precompute
from convviz_widgets.engine.featvis.cache import BadPatternFile, read_pattern

from tiny_models import featvis_model

FEW = TUTORIAL.replace(steps=2)
SHAPE = (8, 8, 3)  # featvis_model's input: the size of its patterns


@pytest.fixture(scope="module")
def model():
    """One model for the module, so its optimization step is compiled once."""
    return featvis_model()


def key(model, index: int) -> str:
    return PatternCache.key(model, "conv", index, FEW)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def entry(image=None, history=None, **meta) -> bytes:
    """A pattern file as PatternCache writes it, with any part replaced."""
    fields = {"layer": "conv", "filter": 0, "dead": False, "display": "deprocess", **meta}
    return npz(image=np.zeros(SHAPE, np.float32) if image is None else image,
               history=np.zeros(2, np.float32) if history is None else history,
               meta=np.array(json.dumps(fields)))


def finished(updates) -> dict[int, featvis.FilterPattern]:
    return {p.filter: p for update in updates for p in update.finished}


def test_corrupt_truncated_and_foreign_files_are_skipped_counted_and_recomputed(model, tmp_path):
    good = precompute(model, "conv", range(3), FEW, tmp_path)
    (tmp_path / f"{key(model, 0)}.npz").write_bytes(b"garbage")
    truncated = tmp_path / f"{key(model, 1)}.npz"
    truncated.write_bytes(truncated.read_bytes()[:300])
    (tmp_path / f"{key(model, 2)}.npz").write_bytes(npz(weights=np.ones(3)))
    cache = PatternCache(tmp_path)
    steps = pattern_steps(model, "conv", range(3), FEW, cache=cache)
    assert next(steps).finished == ()  # nothing usable on disk, and nothing raised
    assert cache.bad_entries == 3
    assert cache.last_bad_entry.startswith(f"the cache file '{key(model, 2)}.npz' was skipped (it "
                                           "holds ['weights'], not ['history', ")
    recomputed = finished(steps)
    for pattern in good:
        np.testing.assert_array_equal(recomputed[pattern.filter].image, pattern.image)
    assert cache.bad_entries == 0, "the files were rewritten"
    later = PatternCache(tmp_path)
    assert len(finished(pattern_steps(model, "conv", range(3), FEW, cache=later))) == 3
    assert later.disk_hits == 3 and later.bad_entries == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [(entry(image=np.zeros((8, 8), np.float32)), r"its image is float32 \(8, 8\), not float32 "
                                                 r"\(8, 8, 3\)"),
     (entry(image=np.zeros((4, 4, 3), np.float32)), r"not float32 \(8, 8, 3\)"),
     (entry(image=np.zeros(SHAPE, np.float64)), "its image is float64"),
     (entry(image=np.full(SHAPE, np.nan, np.float32)), "NaN or infinite"),
     (entry(history=np.zeros((2, 2), np.float32)), "its history is float32 \\(2, 2\\)"),
     (entry(filter=5), "it holds filter 5 of 'conv', not filter 0 of 'conv'"),
     (entry(layer="head"), "it holds filter 0 of 'head'"),
     (entry(display="sepia"), "its display 'sepia'"),
     (npz(image=np.zeros(SHAPE, np.float32), history=np.zeros(2, np.float32),
          meta=np.array('{"layer": "conv"}')), "lacks layer, filter, dead or display"),
     (npz(image=np.zeros(SHAPE, np.float32), history=np.zeros(2, np.float32),
          meta=np.array([{"a": 1}], dtype=object)), "it holds Python objects")],
)
def test_entries_of_the_wrong_shape_or_for_another_filter_are_refused(tmp_path, data, reason):
    path = tmp_path / "entry.npz"
    path.write_bytes(data)
    with pytest.raises(BadPatternFile, match=reason):
        read_pattern(path, "conv", 0, SHAPE)


def test_a_refused_entry_is_a_miss_not_a_wrong_pattern(model, tmp_path):
    (tmp_path / f"{key(model, 0)}.npz").write_bytes(entry(image=np.zeros((8, 8), np.float32)))
    (tmp_path / f"{key(model, 1)}.npz").write_bytes(entry(filter=2))
    cache = PatternCache(tmp_path)
    assert next(pattern_steps(model, "conv", [0, 1], FEW, cache=cache)).finished == ()
    assert cache.bad_entries == 2
    # Without expectations the generic checks still keep a 2-D image out of a gallery.
    assert PatternCache(tmp_path).get(key(model, 0)) is None


def zip_bomb(megabytes: int) -> bytes:
    """A pattern file whose image member inflates to ``megabytes`` of zeros (tiny on disk)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("image.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {
                "descr": "<f4", "fortran_order": False, "shape": (megabytes * 2**18,)})
            for _ in range(megabytes):
                member.write(bytes(2**20))
        archive.writestr("history.npy", npz_member(np.zeros(2, np.float32)))
        archive.writestr("meta.npy", npz_member(np.array("{}")))
    return buffer.getvalue()


def npz_member(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / f"{'0' * 32}.npz"
    path.write_bytes(zip_bomb(96))
    assert path.stat().st_size < 200_000
    cache = PatternCache(tmp_path)
    tracemalloc.start()
    try:
        assert cache.get("0" * 32) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"{peak / 2**20:.0f} MiB were allocated"
    assert "unpacks to 100663" in cache.last_bad_entry and cache.bad_entries == 1


def test_an_array_header_claiming_more_than_is_stored_is_refused(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {
        "descr": "<f4", "fortran_order": False, "shape": (2**40,)})
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("image.npy", header.getvalue() + bytes(16))
        archive.writestr("history.npy", npz_member(np.zeros(2, np.float32)))
        archive.writestr("meta.npy", npz_member(np.array("{}")))
    with pytest.raises(BadPatternFile, match="an array header claims 4398046511104 bytes"):
        read_pattern(path)


def test_an_unwritable_folder_keeps_patterns_in_memory_and_says_so(model, read_only_folder):
    cache = PatternCache(read_only_folder)
    patterns = finished(pattern_steps(model, "conv", range(3), FEW, cache=cache))
    assert sorted(patterns) == [0, 1, 2]
    assert cache.write_error == (
        f"could not write patterns to the folder {str(read_only_folder)!r} (Permission denied); "
        "they are kept in memory only, so choose a writable folder to keep them")
    assert list(read_only_folder.iterdir()) == [], "no temporary file is left"
    assert cache.get(key(model, 1)) is patterns[1]


def test_a_folder_that_cannot_be_created_is_a_write_error_too(model, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    cache = PatternCache(tmp_path / "file" / "patterns")
    assert len(finished(pattern_steps(model, "conv", [0], FEW, cache=cache))) == 1
    assert "could not write patterns to the folder" in cache.write_error


def test_precompute_into_a_read_only_folder_fails_before_optimizing(read_only_folder):
    fresh = featvis_model()
    with pytest.raises(ValueError, match=r"^cannot store patterns in the folder '.*read-only' "
                                         r"\(Permission denied\); choose a writable folder\.$"):
        precompute(fresh, "conv", range(3), FEW, read_only_folder)
    assert featvis.visualizer_for(fresh).step_calls == 0
    assert list(read_only_folder.iterdir()) == []


@pytest.mark.parametrize(("layer", "kind"), [("gap", "GlobalAveragePooling2D"),
                                             ("score", "Dense")])
def test_layers_without_conv_filters_are_refused_naming_one_that_has(model, tmp_path, layer,
                                                                     kind):
    message = (rf"^layer '{layer}' \({kind}\) has no conv filters to optimize; choose a Conv2D "
               r"layer such as 'head'\.$")
    with pytest.raises(ValueError, match=message):
        precompute(model, layer, range(2), FEW, tmp_path)
    with pytest.raises(ValueError, match=message):
        next(pattern_steps(model, layer, range(2), FEW))


@pytest.mark.parametrize("filters", [[3], [-1, 0], range(2, 5)])
def test_filters_outside_the_layer_are_refused(model, filters):
    with pytest.raises(ValueError, match=r"is out of range for layer 'conv', whose 3 filters are "
                                         r"numbered 0 to 2; choose filters in that range\.$"):
        next(pattern_steps(model, "conv", filters, FEW))
