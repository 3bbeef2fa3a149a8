"""A recorded training run: the weights of one model at chosen epochs, swapped into it on demand.

A timeline folder holds one ``.npz`` file of weights per checkpoint and a ``manifest.json``
(format :data:`FORMAT`) listing the checkpoints (epoch, step, logged metrics), the model's
weights (path, shape, dtype) and, when Keras can serialize it, the model's architecture. It is
written by :class:`convviz_widgets.callbacks.CheckpointRecorder`: each checkpoint file first,
then the manifest that lists it, both written whole or not at all, so a run interrupted
half-way leaves a folder whose manifest lists only complete checkpoints. Nothing is unpickled:
weights are plain arrays read by :func:`~convviz_widgets.engine.npz.read_npz`, and the
architecture is rebuilt in Keras' safe mode (no ``Lambda`` code).

:class:`Timeline` reads such a folder and :meth:`Timeline.show` swaps a checkpoint's weights
into **one** model: no model is rebuilt and no traced function is traced again (they read the
model's variables), and every cache of the engine answers for the weights shown (see
:mod:`.weights`).
"""

from __future__ import annotations

import inspect
import json
import threading
import weakref
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cache import ByteLRU
from .files import write_whole
from .npz import BadArchive, read_npz

FORMAT = "convviz-timeline"
VERSION = 1
MANIFEST = "manifest.json"
#: Checkpoint files may unpack to the weights' size plus this much (array headers).
_SLACK = 2**20


@dataclass(frozen=True)
class Checkpoint:
    """One recorded state of the weights.

    Attributes
    ----------
    epoch : int
        Epochs of training done when it was recorded (0: before training).
    step : int
        Training batches done when it was recorded.
    file : str
        The ``.npz`` file in the timeline's folder.
    metrics : dict of str to float
        What training logged for the epoch that ended here (empty for epoch 0).
    """

    epoch: int
    step: int
    file: str
    metrics: dict[str, float] = field(default_factory=dict)


def weight_specs(model: Any) -> list[dict[str, Any]]:
    """Path, shape and dtype of every weight of ``model``, in ``model.weights`` order."""
    return [{"path": str(getattr(w, "path", getattr(w, "name", i))),
             "shape": [int(d) for d in w.shape], "dtype": str(np.dtype(w.dtype))}
            for i, w in enumerate(model.weights)]


def first_difference(expected: Sequence[dict[str, Any]], model: Any) -> str | None:
    """A sentence naming the first weight (and its layer) where ``model`` differs from
    ``expected`` (see :func:`weight_specs`), or None when they agree."""
    found = weight_specs(model)
    for want, have in zip(expected, found, strict=False):
        if want["shape"] != have["shape"]:
            return (f"the first difference is {have['path']!r}: shape {tuple(have['shape'])} "
                    f"where the recording has {tuple(want['shape'])} ({want['path']!r})")
    if len(expected) != len(found):
        return f"the model has {len(found)} weights where the recording has {len(expected)}"
    return None


def write_checkpoint(folder: Path, model: Any, checkpoint: Checkpoint,
                     dtype: str = "float32") -> int:
    """Write ``model``'s weights as ``checkpoint.file`` in ``folder``, whole or not at all;
    return the bytes written. Floating weights are stored as ``dtype``."""
    arrays = {}
    for index, value in enumerate(model.get_weights()):
        values = np.asarray(value)
        if dtype != "float32" and values.dtype.kind == "f":
            values = values.astype(dtype)
        arrays[f"w{index:04d}"] = values

    def write(stream: Any) -> None:
        np.savez(stream, allow_pickle=False, **arrays)

    target = folder / checkpoint.file
    write_whole(target, write)
    return int(target.stat().st_size)


def write_manifest(folder: Path, model: Any, checkpoints: Sequence[Checkpoint], dtype: str,
                   unit: str) -> None:
    """Write the manifest listing ``checkpoints`` (all complete), whole or not at all."""
    try:
        architecture: Any = json.loads(model.to_json())
    except Exception:  # subclassed models cannot be serialized: Timeline then needs model=
        architecture = None
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "model": {"name": model.name, "architecture": architecture,
                  "weights": weight_specs(model)},
        "dtype": dtype,
        "unit": unit,
        "checkpoints": [{"epoch": c.epoch, "step": c.step, "file": c.file,
                         "metrics": c.metrics} for c in checkpoints],
    }
    text = json.dumps(manifest, indent=1)
    write_whole(folder / MANIFEST, lambda stream: stream.write(text.encode("utf-8")))


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of the timeline in ``folder``, checked; one sentence for what it is not."""
    path = Path(folder)
    if not path.is_dir():
        raise ValueError(f"no timeline folder at {str(path)!r}; record one with "
                         "CheckpointRecorder(folder) during model.fit.")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{str(path)!r} is not a timeline: it has no {MANIFEST} (record one with "
                         "CheckpointRecorder(folder) during model.fit).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"the timeline's {MANIFEST} in {str(path)!r} cannot be read ({err}); "
                         "record the training again.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path / MANIFEST)!r} is not a convviz timeline manifest.")
    if manifest.get("version") != VERSION:
        raise ValueError(f"the timeline in {str(path)!r} has format version "
                         f"{manifest.get('version')!r}; this convviz_widgets reads {VERSION}.")
    if not manifest.get("checkpoints"):
        raise ValueError(f"the timeline in {str(path)!r} holds no checkpoint yet; train with the "
                         "recorder for at least one epoch.")
    return manifest


class Timeline:
    """The checkpoints of a recorded training, shown one at a time in one model.

    Parameters
    ----------
    folder : str or Path
        A folder written by :class:`~convviz_widgets.callbacks.CheckpointRecorder`.
    model : keras.Model, optional
        The model to swap weights into; by default it is rebuilt from the recorded
        architecture (Keras' safe mode). It must have the recorded weights' shapes.
    cache_bytes : int
        Memory for the weights of recently shown checkpoints (default 256 MiB; the bundled
        model's checkpoints take 0.6 MB each, VGG16's 528 MB, so one at a time).

    Attributes
    ----------
    checkpoints : list of Checkpoint
        In training order.
    skipped : dict of int to str
        Checkpoints (by epoch) whose file turned out unreadable, and why; they are left out of
        :attr:`epochs`.
    epoch : int or None
        The epoch whose weights the model holds (None before the first :meth:`show`).

    Examples
    --------
    >>> import tempfile, keras, numpy as np
    >>> from convviz_widgets.callbacks import CheckpointRecorder
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", "mse")
    >>> folder = tempfile.mkdtemp()
    >>> _ = model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=2, verbose=0,
    ...               callbacks=[CheckpointRecorder(folder)])
    >>> timeline = Timeline(folder)
    >>> timeline.epochs
    [0, 1, 2]
    >>> timeline.show(0)
    >>> timeline.epoch
    0
    """

    def __init__(self, folder: str | Path, model: Any = None, *,
                 cache_bytes: int = 256 * 2**20) -> None:
        self.folder = Path(folder)
        manifest = read_manifest(self.folder)
        self._specs: list[dict[str, Any]] = list(manifest["model"]["weights"])
        self.checkpoints = [Checkpoint(int(c["epoch"]), int(c.get("step", 0)), str(c["file"]),
                                       {str(k): float(v) for k, v in c.get("metrics", {}).items()
                                        if isinstance(v, (int, float))})
                            for c in manifest["checkpoints"]]
        self.model = model if model is not None else self._rebuild(manifest)
        difference = first_difference(self._specs, self.model)
        if difference is not None:
            raise ValueError(f"the model's architecture is not the recorded one: {difference}.")
        self.skipped: dict[int, str] = {}
        self.epoch: int | None = None
        self._cache: ByteLRU[list[np.ndarray]] = ByteLRU(cache_bytes)
        self._listeners: list[Callable[[], Callable[[int], Any] | None]] = []
        self._lock = threading.RLock()
        self._bytes = sum(int(np.prod(s["shape"])) * np.dtype(s["dtype"]).itemsize
                          for s in self._specs)

    @property
    def epochs(self) -> list[int]:
        """The recorded epochs, in order (unreadable checkpoints left out)."""
        return [c.epoch for c in self.checkpoints if c.epoch not in self.skipped]

    def checkpoint(self, epoch: int) -> Checkpoint:
        """The checkpoint of ``epoch``; one sentence naming the recorded epochs if none."""
        for checkpoint in self.checkpoints:
            if checkpoint.epoch == epoch and epoch not in self.skipped:
                return checkpoint
        raise ValueError(f"the timeline has no checkpoint at epoch {epoch!r}; its epochs are "
                         f"{', '.join(map(str, self.epochs))}.")

    def weights(self, epoch: int) -> list[np.ndarray]:
        """The weights recorded at ``epoch``, in ``model.weights`` order and dtypes (cached).

        Raises
        ------
        ValueError
            For an epoch not recorded, or a checkpoint file that cannot be read (it is then
            added to :attr:`skipped`, so the other checkpoints still scrub).
        """
        checkpoint = self.checkpoint(epoch)
        found = self._cache.get(epoch)
        if found is not None:
            return found
        try:
            arrays = read_npz(self.folder / checkpoint.file, self._bytes + _SLACK)
            values = [arrays[f"w{i:04d}"] for i in range(len(self._specs))]
            for value, spec in zip(values, self._specs, strict=True):
                if list(value.shape) != spec["shape"]:
                    raise BadArchive(f"{spec['path']} has shape {value.shape}, not "
                                     f"{tuple(spec['shape'])}")
            values = [v.astype(spec["dtype"], copy=False)
                      for v, spec in zip(values, self._specs, strict=True)]
        except (BadArchive, KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            reason = (f"the checkpoint of epoch {epoch} ({checkpoint.file}) cannot be read "
                      f"({err}); it is left out")
            self.skipped[epoch] = reason
            raise ValueError(reason + ".") from None
        self._cache.put(epoch, values, sum(v.nbytes for v in values))
        return values

    def show(self, epoch: int) -> None:
        """Put the weights of ``epoch`` into the model (the same model: nothing is rebuilt or
        traced again) and tell every listener."""
        with self._lock:
            values = self.weights(epoch)
            if epoch != self.epoch:
                self.model.set_weights(values)
                self.epoch = epoch
        for reference in list(self._listeners):
            listener = reference()
            if listener is None:  # its widget is gone
                self._listeners.remove(reference)
            else:
                listener(epoch)

    def model_at(self, epoch: int) -> Any:
        """A separate copy of the model holding the weights of ``epoch`` (for side-by-side
        comparisons; the timeline's own model is left as it is)."""
        import keras

        copy = keras.models.clone_model(self.model)
        copy.set_weights(self.weights(epoch))
        return copy

    def kernel(self, epoch: int, variable: Any) -> np.ndarray:
        """One variable of the model (a layer's kernel, say) as recorded at ``epoch``."""
        for index, weight in enumerate(self.model.weights):
            if weight is variable:
                return self.weights(epoch)[index]
        raise ValueError(f"{getattr(variable, 'path', variable)!r} is not a weight of the "
                         "timeline's model.")

    def metrics(self) -> dict[str, list[float | None]]:
        """Every logged metric by name: one value per checkpoint in :attr:`epochs` order
        (None where not logged)."""
        shown = [c for c in self.checkpoints if c.epoch not in self.skipped]
        names = sorted({name for c in shown for name in c.metrics})
        return {name: [c.metrics.get(name) for c in shown] for name in names}

    def listen(self, listener: Callable[[int], Any]) -> None:
        """Call ``listener(epoch)`` after every :meth:`show` (widgets on one timeline follow
        each other). A bound method is held weakly: the timeline keeps no widget alive."""
        if inspect.ismethod(listener):
            self._listeners.append(weakref.WeakMethod(listener))
        else:
            self._listeners.append(lambda: listener)

    @staticmethod
    def _rebuild(manifest: dict[str, Any]) -> Any:
        import keras

        architecture = manifest["model"].get("architecture")
        if architecture is None:
            raise ValueError("this timeline does not hold its model's architecture (a subclassed "
                             "model); pass the model: Timeline(folder, model=...).")
        try:
            model = keras.saving.deserialize_keras_object(architecture, safe_mode=True)
        except Exception as err:
            raise ValueError(f"the recorded architecture cannot be rebuilt safely ({err}); pass "
                             "the model: Timeline(folder, model=...).") from None
        return model

    def __repr__(self) -> str:
        return (f"Timeline({str(self.folder)!r}, epochs={self.epochs}, "
                f"shown={self.epoch!r})")
