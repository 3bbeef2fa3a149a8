"""Dataset examples: the inputs of a data set that excite each channel most, and where.

For chosen layers, one streaming pass over a data set keeps, per channel, the ``k`` images with
the largest maximum activation, the position of that maximum in the layer's maps, and a
thumbnail of the input there: the cell's receptive field (Araujo et al., 2019; see
:mod:`.receptive_field`), cut from the image and shrunk to at most ``thumbnail`` pixels a side.
This is the "dataset examples" view of Olah, Mordvintsev & Schubert (2017), "Feature
Visualization", Distill, and of Zeiler & Fergus (2014, arXiv:1311.2901, §4: the top nine
activations of a feature and their image patches).

How it stays fast and small:

- Batches of images run through the model only as far as the deepest chosen layer
  (:func:`~.featvis.truncate.truncated_forward`, compiled once), and each map is reduced to one
  maximum per image and channel inside the compiled function. The position of a maximum is
  looked for only in the maps of entries that may enter the top-k (:func:`~.topk.entering`):
  at most ``k`` per channel and batch, and fewer and fewer as the top-k fill with strong
  examples.
- The top-k are merged batch by batch (:class:`~.topk.RunningTopK`); thumbnails are cut only for
  entries that enter the top-k. Memory is ``k`` entries per channel per layer plus the batches
  in flight (the maps of the one being computed only), whatever the size of the data set.
- The index is written to a folder (``index.json`` and one ``.npz`` file per layer, no pickle)
  every few seconds and at the end, keyed by the model's weights and the data set: building
  again with the same folder continues where it stopped, or returns at once when complete.

The folder's layout, for other tools: ``index.json`` holds ``format`` (``"convviz-examples
v1"``), ``weights`` and ``dataset`` (hex digests), ``k``, ``thumbnail``, ``seen`` (images
indexed), ``skipped`` (unreadable files), ``complete``, ``names`` (file names of a folder
data set, else null) and ``layers``: for each, ``path``, ``file``, ``channels`` and ``field``
(``size``, ``jump``, ``start`` per axis, or null for branching models, whose thumbnails are the
whole image). Each layer file holds ``values`` ``(C, k)`` float32 (the maxima, largest first),
``ids`` ``(C, k)`` int64 (images' numbers in the data set's order, -1 where fewer than ``k``
images were seen), ``positions`` ``(C, k, 2)`` int32 (row, column in the layer's maps),
``boxes`` ``(C, k, 4)`` int32 (top, left, bottom, right of the field in input pixels, clipped)
and ``crops`` ``(C, k, T, T, channels)`` uint8 (pixels outside the image are grey, 128).

Examples
--------
>>> import keras, numpy as np, tempfile
>>> inputs = keras.Input((4, 4, 1))
>>> conv = keras.layers.Conv2D(1, 1, name="conv", kernel_initializer="ones")(inputs)
>>> model = keras.Model(inputs, conv)
>>> images = np.zeros((3, 4, 4, 1), np.uint8); images[1, 2, 3] = 200; images[2, 0, 0] = 90
>>> index = build_index(model, images, k=2)
>>> [(e.image, e.value, e.position) for e in index.examples("conv", 0)]
[(1, 200.0, (2, 3)), (2, 90.0, (0, 0))]
>>> folder = tempfile.mkdtemp()
>>> _ = index.save(folder)
>>> load_index(folder).examples("conv", 0)[0].image
1
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from .data_sources import stream_of
from .featvis.truncate import truncated_forward
from .files import write_whole
from .layers import LayerInfo, check_channel
from .npz import BadArchive, read_npz
from .probe import shared_probe
from .receptive_field import ReceptiveField, receptive_field
from .topk import RunningTopK, entering, first_peaks

INDEX_FORMAT = "convviz-examples v1"
INDEX_FILE = "index.json"
OUTSIDE = 128  # grey, for thumbnail pixels outside the image
Progress = Callable[[int, int | None], Any]


@dataclass(frozen=True)
class Example:
    """One of a channel's top images.

    Attributes
    ----------
    image : int
        The image's number in the data set's order (from 0).
    value : float
        The channel's maximum over the image.
    position : (int, int)
        Row and column of that maximum in the layer's maps.
    box : (int, int, int, int)
        Top, left, bottom, right (exclusive) of the cell's receptive field in input pixels,
        clipped to the image.
    crop : numpy.ndarray
        The thumbnail ``(T, T, channels)`` uint8 of the field (grey outside the image).
    name : str or None
        The file's path relative to the folder, for a folder data set.
    """

    image: int
    value: float
    position: tuple[int, int]
    box: tuple[int, int, int, int]
    crop: np.ndarray = field(repr=False)
    name: str | None = None


@dataclass
class LayerExamples:
    """The top-k of every channel of one layer (arrays as in the module's docstring)."""

    path: str
    field: ReceptiveField | None
    values: np.ndarray
    ids: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    crops: np.ndarray

    @property
    def channels(self) -> int:
        """Channels of the layer."""
        return int(self.values.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(int(a.nbytes) for a in (self.values, self.ids, self.positions, self.boxes,
                                            self.crops))


@dataclass
class ExampleIndex:
    """The dataset examples of some layers of one model over one data set.

    Use :meth:`examples` for one channel's top images; :meth:`save` and :func:`load_index`
    to keep it on disk.
    """

    layers: dict[str, LayerExamples]
    weights: str
    dataset: str
    k: int
    thumbnail: int
    seen: int = 0
    skipped: int = 0
    complete: bool = False
    names: list[str] | None = None

    def layer(self, path: str) -> LayerExamples:
        """The examples of layer ``path``; a ValueError names the indexed layers otherwise."""
        if path not in self.layers:
            raise ValueError(f"layer {path!r} is not in this index; it holds "
                             f"{', '.join(self.layers)}. Build an index of that layer first.")
        return self.layers[path]

    def examples(self, layer: str, channel: int) -> list[Example]:
        """The top images of ``channel`` of ``layer``, largest maximum first."""
        found = self.layer(layer)
        check_channel(channel, layer, found.channels)
        kept = [slot for slot in range(found.ids.shape[1]) if found.ids[channel, slot] >= 0]
        return [Example(
            image=int(found.ids[channel, slot]),
            value=float(found.values[channel, slot]),
            position=(int(found.positions[channel, slot, 0]),
                      int(found.positions[channel, slot, 1])),
            box=tuple(int(v) for v in found.boxes[channel, slot]),  # type: ignore[arg-type]
            crop=found.crops[channel, slot],
            name=(self.names[int(found.ids[channel, slot])]
                  if self.names is not None else None),
        ) for slot in kept]

    @property
    def nbytes(self) -> int:
        """Memory held by every layer's arrays."""
        return sum(layer.nbytes for layer in self.layers.values())

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the index to ``folder`` (created if needed), each file all or nothing."""
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        entries = []
        for number, (path, examples) in enumerate(self.layers.items()):
            name = f"layer-{number}.npz"
            arrays = {"values": examples.values, "ids": examples.ids,
                      "positions": examples.positions, "boxes": examples.boxes,
                      "crops": examples.crops}
            write_whole(target / name, _savez(arrays))
            entries.append({"path": path, "file": name, "channels": examples.channels,
                            "field": _field_json(examples.field)})
        manifest = {"format": INDEX_FORMAT, "weights": self.weights, "dataset": self.dataset,
                    "k": self.k, "thumbnail": self.thumbnail, "seen": self.seen,
                    "skipped": self.skipped, "complete": self.complete, "names": self.names,
                    "layers": entries}
        text = json.dumps(manifest, indent=1)
        write_whole(target / INDEX_FILE, lambda stream: stream.write(text.encode("utf-8")))
        return target


def load_index(folder: str | os.PathLike[str], model: Any = None) -> ExampleIndex:
    """The index saved in ``folder``; with ``model``, checked to belong to its weights.

    Raises
    ------
    ValueError
        With one sentence: no index there, a file that is not one, or another model's index.
    """
    target = Path(folder)
    manifest_path = target / INDEX_FILE
    if not manifest_path.is_file():
        raise ValueError(f"no dataset-examples index in {str(target)!r}: build one with "
                         "build_index(model, data, folder=...).")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != INDEX_FORMAT:
            raise BadArchive(f"its format is {manifest.get('format')!r}, not {INDEX_FORMAT!r}")
        layers = {}
        for entry in manifest["layers"]:
            channels, k, size = int(entry["channels"]), int(manifest["k"]), manifest["thumbnail"]
            limit = channels * k * (4 + 8 + 8 + 16 + int(size) ** 2 * 4) + 4096
            arrays = read_npz(target / entry["file"], limit,
                              ("boxes", "crops", "ids", "positions", "values"))
            layers[entry["path"]] = LayerExamples(path=entry["path"],
                                                  field=_field_of(entry["field"]), **arrays)
        index = ExampleIndex(layers=layers, weights=manifest["weights"],
                             dataset=manifest["dataset"], k=int(manifest["k"]),
                             thumbnail=int(manifest["thumbnail"]), seen=int(manifest["seen"]),
                             skipped=int(manifest["skipped"]),
                             complete=bool(manifest["complete"]), names=manifest["names"])
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"the dataset-examples index in {str(target)!r} cannot be read "
                         f"({error}); build it again.") from None
    if model is not None and index.weights != shared_probe(model).weights.fingerprint():
        raise ValueError(f"the dataset-examples index in {str(target)!r} was built with other "
                         "weights than this model's; build it again for these weights.")
    return index


def build_index(
    model: Any,
    data: Any,
    layers: Sequence[str] | None = None,
    *,
    k: int = 8,
    batch_size: int = 64,
    thumbnail: int = 64,
    preprocess: Callable[[Any], Any] | None = None,
    folder: str | os.PathLike[str] | None = None,
    dataset_key: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    save_every: float = 10.0,
) -> ExampleIndex:
    """Index the top-``k`` images of every channel of ``layers`` over ``data``.

    Parameters
    ----------
    model : keras.Model
    data : array, folder, tf.data.Dataset or iterable
        A numpy array ``(N, H, W, C)`` (uint8, or floats in [0, 1] or [0, 255]); a folder of
        image files (searched recursively, in sorted order; unreadable files are skipped and
        counted); a ``tf.data.Dataset`` of images or ``(image, label)`` pairs (unbatched, or
        batched); or any iterable of images. Images of another size are resized to the
        model's input, as everywhere in the package.
    layers : sequence of str, optional
        Layer paths; by default every conv layer.
    k : int
        Images kept per channel (default 8).
    batch_size : int
        Images per forward pass (default 64).
    thumbnail : int
        Longest side of a thumbnail in pixels (default 64; smaller receptive fields keep their
        own size).
    preprocess : callable, optional
        The model's preprocessing, applied to each batch of 0–255 pixels.
    folder : path, optional
        Where the index is kept: saved every ``save_every`` seconds and at the end; if it
        already holds an index of these weights, this data set and these settings, building
        continues from where it stopped (or returns it at once when complete).
    dataset_key : str, optional
        A name for a data set that cannot be fingerprinted before it is read (a
        ``tf.data.Dataset`` or an iterable); without it, such an index is keyed by its content
        and a stopped build starts over.
    progress : callable, optional
        Called as ``progress(seen, total)`` after each batch (``total`` None when unknown).
    cancel : threading.Event, optional
        Set it to stop: the batch already running is finished (each batch's pass runs while
        the one before is merged), and what was indexed so far is returned (and saved, with
        ``complete`` false).

    Returns
    -------
    ExampleIndex

    Raises
    ------
    ValueError
        With one sentence: unknown or non-spatial layers, bad ``k``, ``batch_size`` or
        ``thumbnail``, an empty data set, images the model cannot take.
    """
    for name, value in (("k", k), ("batch_size", batch_size), ("thumbnail", thumbnail)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}.")
    probe = shared_probe(model, preprocess)
    chosen = _chosen_layers(probe, layers)
    stream = stream_of(data, probe.input_spec, dataset_key)
    weights = probe.weights.fingerprint()
    settings = f"{','.join(info.path for info in chosen)}|k={k}|thumbnail={thumbnail}"
    dataset = hashlib.blake2b(f"{stream.key}|{settings}".encode(), digest_size=16).hexdigest()
    start = None
    if folder is not None and (Path(folder) / INDEX_FILE).is_file():
        try:
            earlier = load_index(folder)
        except ValueError:
            earlier = None
        if earlier is not None and (earlier.weights, earlier.dataset) == (weights, dataset):
            if earlier.complete:
                return earlier
            start = earlier
    builder = _Builder(probe, chosen, k, thumbnail, preprocess, start, stream.array)
    index = builder.index(weights, dataset)
    last_save = time.monotonic()
    pending: tuple[np.ndarray, list[str] | None, Future] | None = None
    try:
        for images, names in stream.batches(batch_size, skip=index.seen):
            if cancel is not None and cancel.is_set():
                break
            running = builder.run(images)  # while this batch runs, the last one is merged
            if pending is not None:
                _merge(builder, index, stream, pending, progress)
            pending = (images, names, running)
            if folder is not None and time.monotonic() - last_save > save_every:
                builder.store(index).save(folder)
                last_save = time.monotonic()
        else:
            index.complete = True
        if pending is not None:
            _merge(builder, index, stream, pending, progress)
    finally:
        builder.close()
    index.skipped = stream.skipped
    if index.seen == 0 and index.complete:
        if stream.skipped:
            raise ValueError(f"none of the data set's {stream.skipped} files could be read as an "
                             "image; give files the model can take (PNG, JPEG, …).")
        raise ValueError("the data set holds no image the model can take; give it images.")
    builder.store(index)
    if folder is not None:
        index.save(folder)
    return index


def _merge(builder: _Builder, index: ExampleIndex, stream: Any,
           pending: tuple[np.ndarray, list[str] | None, Future], progress: Progress | None
           ) -> None:
    images, names, running = pending
    builder.merge(images, running)
    index.seen += len(images)
    if names is not None:
        index.names = [*(index.names or []), *names]
    index.skipped = stream.skipped
    if progress is not None:
        progress(index.seen, stream.total)


# ----------------------------------------------------------------------------- the builder


class _Builder:
    """The running top-k and thumbnails of every chosen layer, fed batch by batch."""

    def __init__(self, probe: Any, chosen: list[LayerInfo], k: int, thumbnail: int,
                 preprocess: Callable[[Any], Any] | None, start: ExampleIndex | None,
                 source: np.ndarray | None = None) -> None:
        self.probe, self.chosen, self.k, self.thumbnail = probe, chosen, k, thumbnail
        # A data set held in memory is read again for the thumbnails when the index is
        # stored, so batches only update the top-k; a stream is cut while it passes.
        self.source = source
        self.preprocess = preprocess
        spec = probe.input_spec
        self.size = (int(spec.height), int(spec.width))
        self.fields: dict[str, ReceptiveField | None] = {}
        self.tops: dict[str, RunningTopK] = {}
        self.crops: dict[str, np.ndarray] = {}
        self.boxes: dict[str, np.ndarray] = {}
        for info in chosen:
            try:
                found: ReceptiveField | None = receptive_field(probe.layers, info, self.size)
            except ValueError:  # branching before the layer: thumbnails of whole images
                found = None
            self.fields[info.path] = found
            top = RunningTopK(int(info.channels or 0), k)
            side = self._side(found)
            crops = np.zeros((top.values.shape[0], 0, side, side, spec.channels), np.uint8)
            boxes = np.zeros((top.values.shape[0], 0, 4), np.int32)
            if start is not None and info.path in start.layers:
                earlier = start.layers[info.path]
                kept = earlier.ids[0] >= 0
                top.values, top.ids = earlier.values[:, kept], earlier.ids[:, kept]
                top.positions = earlier.positions[:, kept]
                crops, boxes = earlier.crops[:, kept], earlier.boxes[:, kept]
            self.tops[info.path], self.crops[info.path] = top, crops
            self.boxes[info.path] = boxes
        self.start = start
        self.next_id = start.seen if start is not None else 0
        self._function = self._compile()
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convviz-index")

    def _side(self, found: ReceptiveField | None) -> int:
        longest = max(found.size) if found is not None else max(self.size)
        return int(min(self.thumbnail, longest))

    def index(self, weights: str, dataset: str) -> ExampleIndex:
        """An index of nothing yet (or of what ``start`` held)."""
        if self.start is not None:
            self.start.complete = False
            return self.start
        return ExampleIndex(layers={}, weights=weights, dataset=dataset, k=self.k,
                            thumbnail=self.thumbnail)

    def _compile(self) -> Any:
        """The traced ``batch -> {path: (maxima, positions)}``, shared by every build on the
        same probe and layers (a second index of the model is not traced again)."""
        key = tuple(info.path for info in self.chosen)
        functions = _REDUCERS.setdefault(self.probe, {})
        if key not in functions:
            functions[key] = _reducer(self.probe, self.chosen)
        return functions[key]

    def run(self, images: np.ndarray) -> Future:
        """Start the compiled pass of a batch of uint8 images ``(B, H, W, C)`` in the
        builder's thread; :meth:`merge` its result. TensorFlow lets go of the GIL while it
        runs, so the merge of one batch overlaps the pass of the next."""
        batch = images.astype(np.float32)
        if self.preprocess is not None:
            batch = np.asarray(self.preprocess(batch), np.float32)
        return self._runner.submit(self._pass, batch)

    def _pass(self, batch: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """In the builder's thread: a batch's maxima per layer, and where the maxima lie for the
        entries that may enter the top-k (``-1`` elsewhere). The maps are let go here, so only
        the batch being computed holds any."""
        reduced = {}
        for path, (peak, maps) in self._function(batch).items():
            peak, maps = np.asarray(peak), np.asarray(maps)
            rows, channels = entering(self.tops[path], peak)
            positions = np.full((*peak.shape, 2), -1, np.int32)
            positions[rows, channels] = first_peaks(maps, rows, channels)
            reduced[path] = (peak, positions)
        return reduced

    def merge(self, images: np.ndarray, running: Future) -> None:
        """Merge a batch's maxima (from :meth:`run`) into the top-k and thumbnails."""
        reduced = running.result()
        ids = np.arange(self.next_id, self.next_id + len(images))
        self.next_id += len(images)
        for info in self.chosen:
            peak, positions = reduced[info.path]
            top = self.tops[info.path]
            before = top.values.shape[1]
            order = top.update(peak, positions, ids)
            if self.source is None:
                self._carry(info.path, order, before, images)

    def close(self) -> None:
        """Let the builder's thread go."""
        self._runner.shutdown(wait=True)

    def _carry(self, path: str, order: np.ndarray, before: int, images: np.ndarray) -> None:
        """Thumbnails and boxes of the kept entries: earlier ones moved, new ones cut. Once
        ``k`` entries are kept, only the slots whose entry changed are written, in place."""
        top, crops, boxes = self.tops[path], self.crops[path], self.boxes[path]
        channels, kept = order.shape
        side = crops.shape[2]
        if before != kept:  # still filling up: new arrays of the new size
            crops = np.empty((channels, kept, side, side, images.shape[3]), np.uint8)
            boxes = np.empty((channels, kept, 4), np.int32)
            changed = np.ones_like(order, dtype=bool)
        else:
            changed = order != np.arange(kept)[None, :]
        moved = changed & (order < before)
        if moved.any():
            rows, slots = np.nonzero(moved)
            # Gathered (copied) before anything is written: a moved entry's old slot may be
            # written in this same step.
            crops[rows, slots] = self.crops[path][rows, order[rows, slots]]
            boxes[rows, slots] = self.boxes[path][rows, order[rows, slots]]
        new = changed & (order >= before)
        if new.any():
            rows, slots = np.nonzero(new)
            cut, box = self._cut(self.fields[path], images, order[rows, slots] - before,
                                 top.positions[rows, slots], side)
            crops[rows, slots], boxes[rows, slots] = cut, box
        self.crops[path], self.boxes[path] = crops, boxes

    def _cut(self, found: ReceptiveField | None, images: np.ndarray, rows: np.ndarray,
             positions: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Thumbnails ``(n, side, side, C)`` of the fields at ``positions`` of images ``rows``
        (nearest-neighbour samples of the square field; grey outside the image)."""
        height, width = images.shape[1:3]
        if found is None:
            size = np.array([height, width])
            low = np.zeros((len(rows), 2), np.int64)
        else:
            size = np.array(found.size)
            centre = np.array(found.start) + positions * np.array(found.jump)
            low = np.ceil(centre - (size - 1) / 2).astype(np.int64)
        square = int(size.max())
        low = low - (square - size) // 2  # the square around the field
        steps = ((np.arange(side) + 0.5) * square / side).astype(np.int64)
        ys = low[:, :1] + steps[None, :]
        xs = low[:, 1:] + steps[None, :]
        # One gather of whole pixels: each pixel's channels as one opaque item (4–5× faster
        # than indexing the four axes), then grey written over rows and columns outside.
        channels = images.shape[3]
        pixels = np.ascontiguousarray(images).reshape(-1, channels).view(
            np.dtype((np.void, channels * images.itemsize)))
        flat = (rows[:, None, None] * (height * width)
                + np.clip(ys, 0, height - 1)[:, :, None] * width
                + np.clip(xs, 0, width - 1)[:, None, :])
        cut = np.take(pixels, flat).view(images.dtype).reshape(*flat.shape, channels)
        cut[(ys < 0) | (ys >= height)] = OUTSIDE
        cut.transpose(0, 2, 1, 3)[(xs < 0) | (xs >= width)] = OUTSIDE
        field_low = low + (square - size) // 2
        top_left = np.clip(field_low, 0, [height, width])
        bottom_right = np.clip(field_low + size, 0, [height, width])
        return cut, np.concatenate([top_left, bottom_right], axis=1).astype(np.int32)

    def store(self, index: ExampleIndex) -> ExampleIndex:
        """Put the current top-k in ``index`` (padded to ``k`` with id -1)."""
        for info in self.chosen:
            top, crops, boxes = self.tops[info.path], self.crops[info.path], self.boxes[info.path]
            if self.source is not None:  # every kept entry cut from the data set itself
                crops, boxes = self._cut(self.fields[info.path], self.source, top.ids.ravel(),
                                         top.positions.reshape(-1, 2), crops.shape[2])
                shape = top.ids.shape
                crops = crops.reshape(*shape, *crops.shape[1:])
                boxes = boxes.reshape(*shape, 4)
            missing = self.k - top.values.shape[1]
            pad = [(0, 0), (0, missing)]
            index.layers[info.path] = LayerExamples(
                path=info.path, field=self.fields[info.path],
                values=np.pad(top.values, pad, constant_values=-np.inf),
                ids=np.pad(top.ids, pad, constant_values=-1),
                positions=np.pad(top.positions, [*pad, (0, 0)]),
                boxes=np.pad(boxes, [*pad, (0, 0)]),
                crops=np.pad(crops, [*pad, (0, 0), (0, 0), (0, 0)], constant_values=OUTSIDE))
        return index


#: Traced reducers per probe (dropped with it) and tuple of layer paths.
_REDUCERS: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], Any]] = (
    weakref.WeakKeyDictionary())


def _reducer(probe: Any, chosen: list[LayerInfo]) -> Any:
    """A compiled pass up to the deepest of ``chosen`` that gives each layer's maps and every
    image's maximum per channel.

    Only the maxima are reduced inside TensorFlow: a maximum is as cheap as reading the maps,
    but TensorFlow's argmax over the spatial axes costs more than the convolutions of small
    models (on the bundled shapes model it slowed the pass to 0.75× of a bare one). Where the
    maximum lies is looked for afterwards, in the maps of the few images that may enter a
    channel's top-k (:func:`~.topk.entering`, :func:`~.topk.first_peaks`).
    """
    forward = truncated_forward(probe.model, {info.path: info for info in chosen})
    spec = probe.input_spec

    def maxima(batch: tf.Tensor) -> dict[str, tuple[tf.Tensor, tf.Tensor]]:
        reduced = {}
        for path, maps in forward(batch).items():
            maps = tf.cast(maps, tf.float32)
            reduced[path] = (tf.reduce_max(maps, axis=(1, 2)), maps)
        return reduced

    signature = tf.TensorSpec((None, spec.height, spec.width, spec.channels), tf.float32)
    return tf.function(maxima, input_signature=[signature])


def _chosen_layers(probe: Any, layers: Sequence[str] | None) -> list[LayerInfo]:
    if layers is None:
        chosen = [info for info in probe.spatial_layers if info.kind == "conv"]
        if not chosen:
            raise ValueError("the model has no conv layer to index; pass layers= explicitly.")
        return chosen
    if isinstance(layers, str):
        layers = [layers]
    chosen = []
    for key in layers:
        info = probe.layer(key)
        if not info.is_spatial:
            raise ValueError(f"layer {info.path!r} has no feature maps to index; choose conv or "
                             "pool layers.")
        chosen.append(info)
    if not chosen:
        raise ValueError("no layers to index; give at least one layer.")
    return chosen


def _savez(arrays: dict[str, Any]) -> Callable[[Any], None]:
    def write(stream: Any) -> None:
        np.savez(stream, **arrays)

    return write


def _field_json(found: ReceptiveField | None) -> dict[str, list[float]] | None:
    if found is None:
        return None
    return {"size": list(found.size), "jump": list(found.jump), "start": list(found.start)}


def _field_of(entry: dict[str, list[float]] | None) -> ReceptiveField | None:
    if entry is None:
        return None
    return ReceptiveField(size=(int(entry["size"][0]), int(entry["size"][1])),
                          jump=(int(entry["jump"][0]), int(entry["jump"][1])),
                          start=(float(entry["start"][0]), float(entry["start"][1])))


__all__ = ["INDEX_FORMAT", "Example", "ExampleIndex", "LayerExamples", "build_index",
           "load_index"]
