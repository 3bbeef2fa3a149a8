"""Training timeline: what recording costs an epoch, and what switching epochs costs.

- Recording: one epoch of the bundled model's training (2,000 fresh shapes, its batch size),
  with and without a ``CheckpointRecorder`` writing a float16 checkpoint at the epoch's end;
  alternated, medians. Floor: at most 5 % more.
- Switching: the epoch of an image changes (``Timeline.show`` from memory, then the probe's
  pass for the new weights) against the least it can cost: ``model.set_weights`` of arrays in
  memory and one bare compiled forward pass. Floor: at most 1.5×.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import median_seconds, report_overhead


def recording_overhead() -> None:
    import keras

    from convviz_widgets.callbacks import CheckpointRecorder
    from convviz_widgets.zoo.shapes import make_dataset
    from convviz_widgets.zoo.train import BATCH_SIZE, build_shapes_model

    x, labels = make_dataset(2000, seed=11)
    y = np.eye(5, dtype=np.float32)[labels]
    model = build_shapes_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:BATCH_SIZE], y[:BATCH_SIZE], epochs=1, verbose=0)  # trace the train step
    folder = Path(tempfile.mkdtemp())
    recorder = CheckpointRecorder(folder, dtype="float16")
    plain, recorded = [], []
    for _ in range(5):
        for callbacks, times in (([], plain), ([recorder], recorded)):
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, verbose=0, callbacks=callbacks)
            times.append(time.perf_counter() - start)
    size = recorder.bytes_written // 1024 // len(recorder.checkpoints)
    print(f"recording: {len(recorder.checkpoints)} checkpoints of {size} KB, "
          f"{recorder.seconds * 1e3 / len(recorder.checkpoints):.1f} ms each in the recorder; "
          f"epochs without {[round(t, 2) for t in plain]} s, with "
          f"{[round(t, 2) for t in recorded]} s")
    report_overhead("one training epoch with the CheckpointRecorder vs without",
                    statistics.median(plain), statistics.median(recorded), 1.05)


def epoch_switch() -> None:
    import tensorflow as tf

    from convviz_widgets import zoo
    from convviz_widgets.engine.probe import ActivationProbe

    timeline = zoo.load_timeline("shapes")
    model = timeline.model
    probe = ActivationProbe(model)
    image = probe.prepare(zoo.load_image("star"))  # a widget's image is prepared once
    epochs = timeline.epochs
    for epoch in epochs:  # every checkpoint in memory, every function traced
        timeline.show(epoch)
        probe.run(image)
    probe.clear_cache()
    order = iter(range(10**6))

    def ours() -> None:
        # A new epoch each time, and nothing cached for it: the probe runs the model.
        probe.clear_cache()
        timeline.show(epochs[next(order) % len(epochs)])
        probe.run(image)

    weights = [timeline.weights(epoch) for epoch in epochs]
    bare = tf.function(lambda batch: model(batch, training=False))
    batch = tf.constant(probe.model_input(probe.prepare(image)))
    bare(batch)
    counter = iter(range(10**6))

    def reference() -> None:
        model.set_weights(weights[next(counter) % len(weights)])
        bare(batch).numpy()

    floor = median_seconds(reference, repeat=41, warmup=3)
    report_overhead("epoch switch on an image (Timeline.show + the probe's pass) vs "
                    "set_weights + one bare forward pass", floor,
                    median_seconds(ours, repeat=41, warmup=3), 1.5)


def main() -> None:
    recording_overhead()
    epoch_switch()


if __name__ == "__main__":
    main()
