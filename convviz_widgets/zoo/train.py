"""Train the bundled ``shapes`` model: a small VGG-style convnet on procedural shapes.

The result ships in ``convviz_widgets/zoo/data/`` (``shapes.keras`` and ``shapes_classes.json``);
run this module to rebuild it. Everything is generated on the fly by
:mod:`convviz_widgets.zoo.shapes`, so nothing is downloaded.

Usage::

    python -m convviz_widgets.zoo.train               # full run, writes into the package
    python -m convviz_widgets.zoo.train --quick --out /tmp/shapes   # smoke test, seconds

Training data for epoch ``e`` is ``make_dataset(n_train, seed=TRAIN_SEED_BASE + 1000 * seed + e)``:
fresh images every epoch, and the same images for the same ``seed``. The reported accuracy is
measured on ``make_dataset(n_eval, seed=EVAL_SEED_BASE + seed)``, images never used for training.
Keras' global seeds are set with ``keras.utils.set_random_seed(seed)``, so a rerun on the same
machine and TensorFlow build reproduces the weights (up to floating-point non-determinism of
multi-threaded kernels).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .shapes import SHAPE_CLASSES, _make_easy_dataset, make_dataset

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["DATA_DIR", "build_shapes_model", "main", "train"]

DATA_DIR = Path(__file__).resolve().parent / "data"
"""Where the shipped model lives (the default ``out_dir`` of :func:`train`)."""

TRAIN_SEED_BASE = 1_000_000
EVAL_SEED_BASE = 2_000_000

# Defaults of a full run (about ten minutes on two CPU cores).
N_TRAIN = 12_000
EPOCHS = 12
N_EVAL = 2_000
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
#: Share of easy (grey, high-contrast) images in the first epochs: a warm-up curriculum.
EASY_FRACTIONS = (0.5, 0.5, 0.25)


def build_shapes_model(num_classes: int = 5, input_size: int = 64) -> keras.Model:
    """Build the untrained VGG-style ``shapes_vgg`` model.

    Raw 0–255 RGB images go straight in (a ``Rescaling(1/255)`` layer comes first). Four blocks
    of two 3×3 ReLU convolutions with 16, 32, 64 and 64 filters; the first three end in a 2×2
    max pool, so ``block4`` works at 8×8 for 64×64 inputs, then global average pooling and a
    softmax dense layer.

    Parameters
    ----------
    num_classes : int, default 5
        Number of output units.
    input_size : int, default 64
        Height and width of the (square) input.

    Returns
    -------
    keras.Model
        Functional model named ``"shapes_vgg"``, not compiled.

    Examples
    --------
    >>> model = build_shapes_model()
    >>> [layer.name for layer in model.layers][:4]
    ['image', 'rescaling', 'block1_conv1', 'block1_conv2']
    >>> model.output_shape
    (None, 5)
    """
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for block, filters in enumerate((16, 32, 64, 64), start=1):
        for conv in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                              kernel_initializer="he_normal", name=f"block{block}_conv{conv}")(x)
        if block < 4:
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="shapes_vgg")


def train(out_dir: Path | None = None, n_train: int = N_TRAIN, epochs: int = EPOCHS,
          seed: int = 0, quick: bool = False, n_eval: int = N_EVAL,
          verbose: bool = True) -> dict[str, Any]:
    """Train ``shapes_vgg`` on fresh shapes every epoch, evaluate, and save it.

    Parameters
    ----------
    out_dir : pathlib.Path, optional
        Folder for ``shapes.keras`` and ``shapes_classes.json`` (created if missing).
        Default: the package's ``zoo/data/`` (replaces the shipped model).
    n_train : int
        Training images generated per epoch.
    epochs : int
        Number of epochs (each on new images).
    seed : int, default 0
        Seed of Keras' weight initialisation and of the generated data.
    quick : bool, default False
        Smoke-test mode: 300 training images, one epoch, 200 evaluation images.
    n_eval : int
        Number of held-out images for the final accuracy.
    verbose : bool, default True
        Print progress.

    Returns
    -------
    dict
        ``accuracy`` (on held-out images), ``per_class_accuracy``, ``loss``, ``train_accuracy``
        (last epoch), ``seconds``, ``n_train``, ``epochs``, ``n_eval``, ``seed`` and the paths
        ``model_path`` and ``classes_path``.

    Examples
    --------
    >>> import tempfile
    >>> metrics = train(out_dir=Path(tempfile.mkdtemp()), quick=True)  # doctest: +SKIP
    >>> sorted(metrics)[:3]  # doctest: +SKIP
    ['accuracy', 'classes_path', 'epochs']
    """
    import keras

    if quick:
        n_train, epochs, n_eval = 300, 1, 200
    out_dir = Path(out_dir) if out_dir is not None else DATA_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *args, **kwargs: None)

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = build_shapes_model(num_classes=len(SHAPE_CLASSES))
    _center_first_layer(model)
    steps = epochs * int(np.ceil(n_train / BATCH_SIZE))
    schedule = keras.optimizers.schedules.CosineDecay(
        LEARNING_RATE, decay_steps=max(steps, 1), alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    say(f"shapes_vgg: {model.count_params():,} parameters; {epochs} epoch(s) × "
        f"{n_train:,} fresh images")

    train_accuracy = float("nan")
    for epoch in range(epochs):
        t0 = time.perf_counter()
        data_seed = TRAIN_SEED_BASE + 1000 * seed + epoch
        n_easy = int(n_train * EASY_FRACTIONS[epoch]) if epoch < len(EASY_FRACTIONS) else 0
        x, y = make_dataset(n_train - n_easy, seed=data_seed)
        if n_easy:
            x_easy, y_easy = _make_easy_dataset(n_easy, seed=data_seed)
            x, y = np.concatenate([x, x_easy]), np.concatenate([y, y_easy])
        t1 = time.perf_counter()
        history = model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=True, verbose=0)
        train_accuracy = float(history.history["accuracy"][-1])
        say(f"epoch {epoch + 1}/{epochs}: loss {history.history['loss'][-1]:.4f}, "
            f"accuracy {train_accuracy:.4f} (data {t1 - t0:.1f}s, fit "
            f"{time.perf_counter() - t1:.1f}s, total {time.perf_counter() - start:.0f}s)")

    x_eval, y_eval = make_dataset(n_eval, seed=EVAL_SEED_BASE + seed)
    probs = model.predict(x_eval, batch_size=256, verbose=0)
    predicted = probs.argmax(axis=1)
    accuracy = float((predicted == y_eval).mean())
    loss = float(-np.log(np.clip(probs[np.arange(n_eval), y_eval], 1e-7, 1.0)).mean())
    per_class = {name: float((predicted[y_eval == i] == i).mean())
                 for i, name in enumerate(SHAPE_CLASSES) if (y_eval == i).any()}
    seconds = time.perf_counter() - start

    model_path = out_dir / "shapes.keras"
    classes_path = out_dir / "shapes_classes.json"
    # Save an uncompiled copy: no optimizer state (a third of the size), and nothing that
    # load_model(compile=False) would have to skip.
    clean = build_shapes_model(num_classes=len(SHAPE_CLASSES))
    clean.set_weights(model.get_weights())
    clean.save(model_path)
    classes_path.write_text(json.dumps(list(SHAPE_CLASSES)) + "\n", encoding="utf-8")
    say(f"held-out accuracy {accuracy:.4f} on {n_eval:,} images "
        f"({', '.join(f'{k} {v:.3f}' for k, v in per_class.items())}); "
        f"{seconds:.0f}s; saved {model_path} ({model_path.stat().st_size / 1024:.0f} KB)")
    return {
        "accuracy": accuracy,
        "per_class_accuracy": per_class,
        "loss": loss,
        "train_accuracy": train_accuracy,
        "seconds": seconds,
        "n_train": n_train,
        "epochs": epochs,
        "n_eval": n_eval,
        "seed": seed,
        "model_path": str(model_path),
        "classes_path": str(classes_path),
    }


def _center_first_layer(model: keras.Model) -> None:
    """Make ``block1_conv1`` see inputs centred on mid-grey, as ``x / 127.5 - 1`` would.

    ``W · (x / 127.5 - 1) + b == (2 W) · (x / 255) + (b - ΣW)``: doubling the kernel and moving
    the bias keeps the architecture (``Rescaling(1/255)``) but starts training from a layer
    that ignores the mean brightness, which shortens the initial plateau.
    """
    layer = model.get_layer("block1_conv1")
    kernel, bias = layer.get_weights()
    layer.set_weights([2.0 * kernel, bias - kernel.sum(axis=(0, 1, 2))])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m convviz_widgets.zoo.train --help``."""
    parser = argparse.ArgumentParser(
        prog="python -m convviz_widgets.zoo.train",
        description="Train the bundled shapes_vgg model on procedurally generated shapes.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 300 images, 1 epoch (seconds)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output folder (default: the package's {DATA_DIR})")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"default {EPOCHS}")
    parser.add_argument("--n-train", type=int, default=N_TRAIN,
                        help=f"training images per epoch (default {N_TRAIN})")
    parser.add_argument("--n-eval", type=int, default=N_EVAL,
                        help=f"held-out images (default {N_EVAL})")
    parser.add_argument("--seed", type=int, default=0, help="default 0")
    args = parser.parse_args(argv)
    metrics = train(out_dir=args.out, n_train=args.n_train, epochs=args.epochs, seed=args.seed,
                    quick=args.quick, n_eval=args.n_eval)
    print(json.dumps({k: v for k, v in metrics.items() if k != "per_class_accuracy"}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
