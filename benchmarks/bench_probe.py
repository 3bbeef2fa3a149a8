"""Per-layer sub-models (the tutorial way) vs one probe pass serving all 13 VGG16 conv layers.

Also: the probe's forward pass on a new image against a bare compiled forward pass.
"""

from __future__ import annotations

import numpy as np

from benchmarks.timing import median_seconds, report_overhead, report_speedup
from benchmarks.vgg import photo, preprocess, vgg16


def main() -> None:
    import keras
    import tensorflow as tf

    from convviz_widgets.engine.probe import ActivationProbe

    model = vgg16()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 13
    image = photo()
    batch = preprocess(image[None].astype("float32"))

    def tutorial() -> list[np.ndarray]:
        # Seed S3: one Model per layer, each run with predict().
        return [keras.Model(model.inputs, layer.output).predict(batch, verbose=0)[0]
                for layer in convs]

    probe = ActivationProbe(model, preprocess)

    def ours() -> list[np.ndarray]:
        probe.clear_cache()
        return [probe.activations(image, layer.name) for layer in convs]

    expected, got = tutorial(), ours()
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    report_speedup("13 VGG16 conv layers (per-layer Model.predict vs one probe pass)",
                   median_seconds(tutorial, repeat=3), median_seconds(ours, repeat=5), 10)

    bare = tf.function(lambda x: model(x, training=False))
    tensor = tf.constant(batch)
    bare_time = median_seconds(lambda: bare(tensor).numpy(), repeat=9, warmup=2)
    images = [np.roll(image, i, axis=1) for i in range(9)]  # new content each run: cache misses
    index = iter(range(10**6))

    def probe_pass() -> None:
        probe.clear_cache()
        probe.run(images[next(index) % len(images)])

    report_overhead("probe pass on a new image vs bare compiled forward pass",
                    bare_time, median_seconds(probe_pass, repeat=9, warmup=2), 1.25)


if __name__ == "__main__":
    main()
