"""Grad-CAM: the Keras example's per-layer gradient models vs one pass for every layer.

Also: one Grad-CAM against a bare compiled forward+backward pass, switching among the top-5
classes after the first view, and Score-CAM batched against one forward pass per channel.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.timing import median_seconds, report_overhead, report_speedup
from benchmarks.vgg import photo, preprocess, vgg16


def keras_example_gradcam(model, batch, layer_name, index):
    """The official Keras Grad-CAM example: a gradient model built per call."""
    import keras
    import tensorflow as tf

    grad_model = keras.models.Model(model.inputs,
                                    [model.get_layer(layer_name).output, model.output])
    with tf.GradientTape() as tape:
        conv_output, predictions = grad_model(batch)
        class_channel = predictions[:, index]
    grads = tape.gradient(class_channel, conv_output)
    pooled = tf.reduce_mean(grads, axis=(0, 1, 2))
    heatmap = tf.squeeze(conv_output[0] @ pooled[..., tf.newaxis])
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


def main() -> None:
    import keras
    import tensorflow as tf

    from convviz_widgets.engine.cam import cam_sweep
    from convviz_widgets.engine.cam.scorecam import score_cam
    from convviz_widgets.engine.probe import ActivationProbe
    from convviz_widgets.engine.targets import ClassTarget

    model = vgg16()
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    image = photo("cat")
    batch = preprocess(image[None].astype("float32"))
    index = int(np.argmax(model.predict(batch, verbose=0)))

    def tutorial():
        return [keras_example_gradcam(model, batch, name, index) for name in convs]

    images = [np.roll(image, i, axis=0) for i in range(8)]  # new content: no cache hits
    counter = iter(range(10**6))

    probe = ActivationProbe(model, preprocess)

    def ours():
        return cam_sweep(probe.gradients, images[next(counter) % 8], index)

    sweep = ours()
    assert len(sweep) == 13
    report_speedup("Grad-CAM of all 13 VGG16 conv layers (Keras example per layer vs one pass)",
                   median_seconds(tutorial, repeat=3), median_seconds(ours, repeat=5), 15)

    tensor = tf.constant(batch)

    @tf.function
    def bare(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = model(x, training=False)[:, index]
        return tape.gradient(score, x)

    bare_time = median_seconds(lambda: bare(tensor).numpy(), repeat=7, warmup=2)
    report_overhead("one Grad-CAM (all layers) vs bare compiled forward+backward pass",
                    bare_time, median_seconds(ours, repeat=7, warmup=1), 1.3)

    fresh = images[3]
    probe.gradients.compute_top_k(fresh, 5)
    classes = [t.index for t in probe.gradients.compute_top_k(fresh, 5)]
    times = []
    for i in range(25):
        start = time.perf_counter()
        probe.cam(fresh, "block5_conv3", classes[i % 5])
        times.append(time.perf_counter() - start)
    forward = median_seconds(lambda: model(tensor, training=False).numpy(), repeat=7, warmup=2)
    report_overhead("switching among the top-5 classes vs one forward pass", forward,
                    float(np.median(times)), 0.1)

    # The first 32 of block5_conv3's 512 channels keep this part to seconds on a CPU.
    activations = probe.activations(image, "block5_conv3")[..., :32]
    scorer = probe.explainer().scorer()
    target = ClassTarget(index)

    def scores(inputs):
        return scorer.scores(inputs, target)

    batched = median_seconds(lambda: score_cam(scores, batch, activations, batch_size=32),
                             repeat=1, warmup=1)
    one_each = median_seconds(lambda: score_cam(scores, batch, activations, batch_size=1),
                              repeat=1, warmup=1)
    print(f"Score-CAM, 32 channels of block5_conv3: one pass per channel {one_each:.2f} s, "
          f"one batch of 32 {batched:.2f} s → {one_each / batched:.2f}× (reported, no floor)")


if __name__ == "__main__":
    main()
