"""Record a training run for the widgets to scrub through: a Keras callback.

Examples
--------
>>> import tempfile, keras, numpy as np
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
>>> model.compile("sgd", "mse")
>>> folder = tempfile.mkdtemp()
>>> history = model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=3, verbose=0,
...                     callbacks=[CheckpointRecorder(folder, every=2)])
>>> from convviz_widgets.engine.timeline import Timeline
>>> Timeline(folder).epochs  # before training, every second epoch, and the last
[0, 2, 3]
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import keras

from .engine.timeline import Checkpoint, write_checkpoint, write_manifest  # quiets TensorFlow

__all__ = ["CheckpointRecorder"]

DTYPES = ("float32", "float16")


class CheckpointRecorder(keras.callbacks.Callback):
    """Write the model's weights at the start of training and after every ``every`` epochs
    (or batches), with the logged metrics, into ``folder`` (see
    :mod:`convviz_widgets.engine.timeline` for the layout).

    Parameters
    ----------
    folder : str or Path
        Created if missing; a timeline already there is continued (its epochs go on counting).
    every : int
        Record every ``every`` epochs (or batches, with ``unit="batch"``); the last epoch of
        each ``fit`` is always recorded.
    epochs : collection of int, optional
        Record exactly after these epochs instead (and at the start, epoch 0).
    unit : {"epoch", "batch"}
        What ``every`` counts.
    dtype : {"float32", "float16"}
        How weights are stored; ``"float16"`` halves the size (about 3 significant digits:
        pictures are indistinguishable, but a restored model's outputs differ slightly).

    Attributes
    ----------
    checkpoints : list of Checkpoint
        Those recorded (or found in the folder).
    bytes_written, seconds : int, float
        What recording has cost so far.

    Notes
    -----
    Each checkpoint is written whole to a temporary file and renamed, then the manifest that
    lists it is rewritten the same way: if training is interrupted, the folder lists only
    complete checkpoints. Epochs are counted by the recorder itself, so a training loop that
    calls ``fit(..., epochs=1)`` once per epoch is recorded as one run.
    """

    def __init__(self, folder: str | Path, every: int = 1, *,
                 epochs: Collection[int] | None = None, unit: str = "epoch",
                 dtype: str = "float32") -> None:
        super().__init__()
        if unit not in ("epoch", "batch"):
            raise ValueError(f"unit is 'epoch' or 'batch', not {unit!r}.")
        if dtype not in DTYPES:
            raise ValueError(f"dtype is 'float32' or 'float16', not {dtype!r}.")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every is a number of {unit}s, at least 1, not {every!r}.")
        self.folder = Path(folder)
        self.every = every
        self.at = None if epochs is None else {int(e) for e in epochs}
        self.unit = unit
        self.dtype = dtype
        self.checkpoints: list[Checkpoint] = []
        self.epoch = 0
        self.step = 0
        self.bytes_written = 0
        self.seconds = 0.0
        self._started = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._started:
            return
        self._started = True
        self.folder.mkdir(parents=True, exist_ok=True)
        self.checkpoints = self._existing()
        if self.checkpoints:
            self.epoch, self.step = self.checkpoints[-1].epoch, self.checkpoints[-1].step
        else:
            self._record({})

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.step += 1
        if self.unit == "batch" and self.step % self.every == 0:
            self._record(logs or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch += 1
        if self.unit != "epoch":
            return
        chosen = self.epoch in self.at if self.at is not None else self.epoch % self.every == 0
        if chosen:
            self._record(logs or {})

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        # The end of training is always worth a frame (unless it was just recorded).
        if self.unit == "epoch" and self.at is None and (
                not self.checkpoints or self.checkpoints[-1].epoch != self.epoch):
            self._record(logs or {})

    def record_after(self, epochs: int, logs: dict[str, Any] | None = None) -> None:
        """Record the model now, ``epochs`` epochs after the last one counted (training done
        outside ``fit``, e.g. a custom fine-tuning loop); the model is the one ``fit`` used."""
        if self.model is None:
            raise ValueError("the recorder has no model yet: use it in model.fit first, or call "
                             "recorder.set_model(model).")
        if not self._started:
            self.on_train_begin()
        self.epoch += int(epochs)
        self._record(logs or {})

    def _record(self, logs: dict[str, Any]) -> None:
        start = time.perf_counter()
        name = (f"weights-e{self.epoch:05d}.npz" if self.unit == "epoch"
                else f"weights-s{self.step:08d}.npz")
        metrics = {str(k): float(v) for k, v in logs.items() if _is_number(v)}
        checkpoint = Checkpoint(self.epoch, self.step, name, metrics)
        self.bytes_written += write_checkpoint(self.folder, self.model, checkpoint, self.dtype)
        self.checkpoints = [c for c in self.checkpoints if c.file != name] + [checkpoint]
        write_manifest(self.folder, self.model, self.checkpoints, self.dtype, self.unit)
        self.seconds += time.perf_counter() - start

    def _existing(self) -> list[Checkpoint]:
        from .engine.timeline import read_manifest

        try:
            manifest = read_manifest(self.folder)
        except ValueError:
            return []
        return [Checkpoint(int(c["epoch"]), int(c.get("step", 0)), str(c["file"]),
                           dict(c.get("metrics", {}))) for c in manifest["checkpoints"]]


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
