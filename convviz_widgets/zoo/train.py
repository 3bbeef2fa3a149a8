"""Train the bundled ``shapes`` model: a small VGG-style convnet on procedural shapes.

Two tasks share the architecture and the data generator:

- ``shapes``: softmax over the five classes (``shapes.keras``);
- ``circle``: a single sigmoid unit, "is there a circle?" (``shapes_circle.keras``), the
  binary-classifier case of seed S0 (Chollet's cats-vs-dogs model).

The results ship in ``convviz_widgets/zoo/data/`` with their class names; run this module to
rebuild them. Everything is generated on the fly by :mod:`convviz_widgets.zoo.shapes`, so
nothing is downloaded.

Usage::

    python -m convviz_widgets.zoo.train               # both tasks, writes into the package
    python -m convviz_widgets.zoo.train --task circle # only the sigmoid model
    python -m convviz_widgets.zoo.train --quick --out /tmp/shapes   # smoke test, seconds
    python -m convviz_widgets.zoo.train --task shapes --record FOLDER   # and a timeline

``--record FOLDER`` writes a training timeline (:class:`~convviz_widgets.callbacks.
CheckpointRecorder`, float16) into ``FOLDER/<stem>``: the weights before training, after the
classification epochs :data:`RECORDED_EPOCHS`, and after the equivariance fine-tuning (as epoch
``epochs + equivariance_epochs``), for :class:`~convviz_widgets.engine.timeline.Timeline`.

Training data for epoch ``e`` is drawn with ``data_seed = TRAIN_SEED_BASE + 1000 * seed + e``:
single shapes from ``make_dataset`` (high-contrast gray ones from ``_make_easy_dataset`` for a
share of the first epochs, :data:`EASY_FRACTIONS`) and :data:`SCENE_FRACTION` of two-shape
scenes from ``make_scene_dataset`` (soft targets, half for each shape): fresh images every
epoch, and the same images for the same ``seed``. The reported accuracy is measured on
``make_dataset(n_eval, seed=EVAL_SEED_BASE + seed)``, images never used for training, and on
``n_eval // 2`` held-out scenes.

After the classification epochs, :data:`EQUIVARIANCE_EPOCHS` more epochs (data of epochs
``epochs``, ``epochs + 1``, …) fine-tune the model with an equivariance loss on its class maps
(:mod:`convviz_widgets.zoo.equivariance`, after SEAM, Wang et al., 2020): trained on labels
alone, the model put its evidence on one edge of each shape, chosen by the shape's contrast,
and Grad-CAM's peak often fell just outside; the fine-tuning moves it onto the shape.
Keras' global seeds are set with ``keras.utils.set_random_seed(seed)``, so a rerun on the same
machine and TensorFlow build reproduces the weights (up to floating-point non-determinism of
multi-threaded kernels).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .equivariance import EquivarianceSettings, fine_tune
from .shapes import SHAPE_CLASSES, _make_easy_dataset, make_dataset, make_scene_dataset

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["DATA_DIR", "TASKS", "Task", "build_shapes_model", "main", "train"]

DATA_DIR = Path(__file__).resolve().parent / "data"
"""Where the shipped model lives (the default ``out_dir`` of :func:`train`)."""

TRAIN_SEED_BASE = 1_000_000
EVAL_SEED_BASE = 2_000_000

# Defaults of a full run (about 13 minutes per task on two CPU cores, fine-tuning included).
N_TRAIN = 12_000
EPOCHS = 12
N_EVAL = 2_000
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
#: Share of easy (grey, high-contrast) images in the first epochs: a warm-up curriculum.
EASY_FRACTIONS = (0.5, 0.5, 0.25)
#: Share of two-shape scenes in every epoch (soft targets: half for each shape), so that the
#: model recognizes several smaller shapes at once, as the CAM pointing game asks of it.
SCENE_FRACTION = 0.3
#: Offset of the scene seeds from the single-shape seeds of the same epoch.
SCENE_SEED_OFFSET = 500_000
#: Epochs of equivariance fine-tuning after the classification epochs (see
#: :mod:`convviz_widgets.zoo.equivariance`): they move the class maps onto the shapes.
EQUIVARIANCE_EPOCHS = 4
EQUIVARIANCE = EquivarianceSettings(weight=1.0, learning_rate=3e-4, batch_size=BATCH_SIZE)
#: Classification epochs recorded by ``--record`` (with the start and the fine-tuned end): the
#: early epochs, where the first layer's edges form, closely; the later ones sparsely. Stored in
#: float16, eleven checkpoints of the shapes model take about 3.3 MB.
RECORDED_EPOCHS = (1, 2, 3, 4, 5, 6, 8, 10, 12)
#: The last conv layer, whose class maps the fine-tuning makes equivariant.
LAST_CONV = "block4_conv2"


@dataclass(frozen=True)
class Task:
    """What one bundled model learns from the shapes data set."""

    name: str
    stem: str  # file name of the saved model, without ``.keras``
    class_names: tuple[str, ...]  # the model's classes (positive first for a sigmoid unit)
    binary: bool  # a single sigmoid unit ("is there a circle?") instead of a softmax

    def targets(self, present: np.ndarray) -> np.ndarray:
        """Training targets from the classes present in each image, ``(n, classes)`` bool.

        Softmax task: the present classes share the probability (one-hot for one shape, half
        and half for a scene). Sigmoid task: 1 when a circle is present.
        """
        if self.binary:
            return present[:, SHAPE_CLASSES.index("circle")].astype(np.float32)
        return (present / present.sum(axis=1, keepdims=True)).astype(np.float32)

    def predicted(self, outputs: np.ndarray) -> np.ndarray:
        """Predicted labels from the model's outputs (the top class, or circle yes/no)."""
        return (outputs[:, 0] > 0.5).astype(np.float32) if self.binary else outputs.argmax(1)


TASKS: dict[str, Task] = {
    "shapes": Task("shapes", "shapes", SHAPE_CLASSES, binary=False),
    "circle": Task("circle", "shapes_circle", ("circle", "no circle"), binary=True),
}


def build_shapes_model(num_classes: int = 5, input_size: int = 64, binary: bool = False
                       ) -> keras.Model:
    """Build the untrained VGG-style ``shapes_vgg`` model.

    Raw 0–255 RGB images go straight in (a ``Rescaling(1/255)`` layer comes first). Four blocks
    of two 3×3 ReLU convolutions with 16, 32, 64 and 64 filters; the first two end in a 2×2
    max pool, so ``block3`` and ``block4`` work at 16×16 for 64×64 inputs (fine enough for a
    class activation map of the last conv layer to point at shapes a fifth of the image wide),
    then global average pooling and a softmax dense layer (one sigmoid unit if ``binary``).

    Parameters
    ----------
    num_classes : int, default 5
        Number of output units.
    input_size : int, default 64
        Height and width of the (square) input.
    binary : bool, default False
        One sigmoid unit instead of a softmax (``num_classes`` is then ignored); the model is
        named ``"shapes_circle"``.

    Returns
    -------
    keras.Model
        Functional model named ``"shapes_vgg"`` (or ``"shapes_circle"``), not compiled.

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
        if block < 3:
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if binary:
        outputs = layers.Dense(1, activation="sigmoid", name="predictions")(x)
        return keras.Model(inputs, outputs, name="shapes_circle")
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="shapes_vgg")


def train(out_dir: Path | None = None, n_train: int = N_TRAIN, epochs: int = EPOCHS,
          seed: int = 0, quick: bool = False, n_eval: int = N_EVAL,
          verbose: bool = True, task: str = "shapes",
          equivariance_epochs: int = EQUIVARIANCE_EPOCHS,
          record: Path | None = None) -> dict[str, Any]:
    """Train one bundled model on fresh shapes every epoch, evaluate, and save it.

    Parameters
    ----------
    out_dir : pathlib.Path, optional
        Folder for ``<stem>.keras`` and ``<stem>_classes.json`` (created if missing).
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
    task : str, default "shapes"
        A key of :data:`TASKS`: ``"shapes"`` (softmax) or ``"circle"`` (one sigmoid unit).
    equivariance_epochs : int
        Epochs of equivariance fine-tuning after the ``epochs`` of classification (0: none).
    record : pathlib.Path, optional
        Folder of a training timeline to write (see the module's docstring).

    Returns
    -------
    dict
        ``accuracy`` (on held-out images), ``per_class_accuracy``, ``scene_accuracy``,
        ``loss``, ``train_accuracy`` (last classification epoch), ``equivariance`` (last
        fine-tuning epoch; NaN without fine-tuning), ``seconds``, ``n_train``, ``epochs``,
        ``n_eval``, ``seed``, ``task`` and the paths ``model_path`` and ``classes_path``.

    Examples
    --------
    A smoke run into a temporary folder (seconds; ``tests/zoo`` runs it)::

        metrics = train(out_dir=Path(tempfile.mkdtemp()), quick=True)
        sorted(metrics)[:3]  # ['accuracy', 'classes_path', 'epochs']
    """
    import keras

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}.")
    spec = TASKS[task]
    if quick:
        n_train, epochs, n_eval, equivariance_epochs = 300, 1, 200, min(equivariance_epochs, 1)
    out_dir = Path(out_dir) if out_dir is not None else DATA_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *args, **kwargs: None)

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)
    model = build_shapes_model(num_classes=len(SHAPE_CLASSES), binary=spec.binary)
    _center_first_layer(model)
    steps = epochs * int(np.ceil(n_train / BATCH_SIZE))
    schedule = keras.optimizers.schedules.CosineDecay(
        LEARNING_RATE, decay_steps=max(steps, 1), alpha=0.02)
    loss_name = "binary_crossentropy" if spec.binary else "categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss_name,
                  metrics=["accuracy"])
    say(f"{model.name}: {model.count_params():,} parameters; {epochs} epoch(s) × "
        f"{n_train:,} fresh images")
    recorder = None
    if record is not None:
        from ..callbacks import CheckpointRecorder

        recorder = CheckpointRecorder(Path(record), epochs=RECORDED_EPOCHS, dtype="float16")

    train_accuracy = float("nan")
    for epoch in range(epochs):
        t0 = time.perf_counter()
        x, targets = epoch_data(spec, epoch, n_train, seed)
        t1 = time.perf_counter()
        history = model.fit(x, targets, batch_size=BATCH_SIZE, epochs=1, shuffle=True,
                            sample_weight=balancing_weights(targets) if spec.binary else None,
                            verbose=0, callbacks=[recorder] if recorder is not None else None)
        train_accuracy = float(history.history["accuracy"][-1])
        say(f"epoch {epoch + 1}/{epochs}: loss {history.history['loss'][-1]:.4f}, "
            f"accuracy {train_accuracy:.4f} (data {t1 - t0:.1f}s, fit "
            f"{time.perf_counter() - t1:.1f}s, total {time.perf_counter() - start:.0f}s)")

    def equivariance_data(epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Fresh images: the epochs after the classification epochs.
        x, targets = epoch_data(spec, epochs + epoch, n_train, seed)
        weights = balancing_weights(targets) if spec.binary else np.ones(len(x), np.float32)
        return x, targets.reshape(len(x), -1), weights

    equivariance = float("nan")
    if equivariance_epochs > 0:
        tuned = fine_tune(model, LAST_CONV, equivariance_data, equivariance_epochs,
                          EQUIVARIANCE, seed=seed, log=say)
        equivariance = tuned["equivariance"]
        say(f"equivariance fine-tuning done (total {time.perf_counter() - start:.0f}s)")
        if recorder is not None:
            recorder.record_after(equivariance_epochs, {"loss": tuned["loss"],
                                                        "equivariance": equivariance})

    x_eval, shapes_eval = make_dataset(n_eval, seed=EVAL_SEED_BASE + seed)
    y_eval = spec.targets(one_hot(shapes_eval))
    if not spec.binary:
        y_eval = y_eval.argmax(axis=1)
    probs = model.predict(x_eval, batch_size=256, verbose=0)
    predicted = spec.predicted(probs)
    accuracy = float((predicted == y_eval).mean())
    if spec.binary:
        likelihood = np.where(y_eval == 1, probs[:, 0], 1.0 - probs[:, 0])
    else:
        likelihood = probs[np.arange(n_eval), y_eval]
    loss = float(-np.log(np.clip(likelihood, 1e-7, 1.0)).mean())
    scene_accuracy = _scene_accuracy(model, spec, n_eval // 2,
                                     seed=EVAL_SEED_BASE + seed + SCENE_SEED_OFFSET)
    # Per shape: how often the model is right on images of that shape.
    per_class = {name: float((predicted[shapes_eval == i] == y_eval[shapes_eval == i]).mean())
                 for i, name in enumerate(SHAPE_CLASSES) if (shapes_eval == i).any()}
    seconds = time.perf_counter() - start

    model_path = out_dir / f"{spec.stem}.keras"
    classes_path = out_dir / f"{spec.stem}_classes.json"
    # Save an uncompiled copy: no optimizer state (a third of the size), and nothing that
    # load_model(compile=False) would have to skip.
    clean = build_shapes_model(num_classes=len(SHAPE_CLASSES), binary=spec.binary)
    clean.set_weights(model.get_weights())
    clean.save(model_path)
    classes_path.write_text(json.dumps(list(spec.class_names)) + "\n", encoding="utf-8")
    say(f"held-out accuracy {accuracy:.4f} on {n_eval:,} images "
        f"({', '.join(f'{k} {v:.3f}' for k, v in per_class.items())}); two-shape scenes "
        f"{scene_accuracy:.4f}; "
        f"{seconds:.0f}s; saved {model_path} ({model_path.stat().st_size / 1024:.0f} KB)")
    return {
        "accuracy": accuracy,
        "per_class_accuracy": per_class,
        "scene_accuracy": scene_accuracy,
        "loss": loss,
        "train_accuracy": train_accuracy,
        "equivariance": equivariance,
        "seconds": seconds,
        "n_train": n_train,
        "epochs": epochs,
        "n_eval": n_eval,
        "seed": seed,
        "task": task,
        "model_path": str(model_path),
        "classes_path": str(classes_path),
    }


def epoch_data(spec: Task, epoch: int, n_train: int, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Training images and targets of one epoch: fresh ones for every ``(epoch, seed)``.

    Single shapes, with :data:`EASY_FRACTIONS` of easy ones in the first epochs, and
    :data:`SCENE_FRACTION` of two-shape scenes.
    """
    data_seed = TRAIN_SEED_BASE + 1000 * seed + epoch
    n_easy = int(n_train * EASY_FRACTIONS[epoch]) if epoch < len(EASY_FRACTIONS) else 0
    n_scenes = int(n_train * SCENE_FRACTION)
    x, y = make_dataset(n_train - n_easy - n_scenes, seed=data_seed)
    parts = [(x, one_hot(y))]
    if n_easy:
        x_easy, y_easy = _make_easy_dataset(n_easy, seed=data_seed)
        parts.append((x_easy, one_hot(y_easy)))
    if n_scenes:
        parts.append(make_scene_dataset(n_scenes, seed=data_seed + SCENE_SEED_OFFSET))
    x = np.concatenate([images for images, _ in parts])
    return x, spec.targets(np.concatenate([present for _, present in parts]))


def one_hot(labels: np.ndarray) -> np.ndarray:
    """``(n, classes)`` bool: True at each image's shape class."""
    return np.arange(len(SHAPE_CLASSES))[None, :] == labels[:, None]


def balancing_weights(targets: np.ndarray) -> np.ndarray:
    """Per-image weights giving the positive and negative images of a 0/1 task equal total
    weight (a circle is in about a quarter of the images)."""
    positive = float(targets.mean())
    if positive in (0.0, 1.0):
        return np.ones_like(targets)
    return np.where(targets > 0.5, 0.5 / positive, 0.5 / (1.0 - positive)).astype(np.float32)


def _scene_accuracy(model: keras.Model, spec: Task, n: int, seed: int) -> float:
    """On held-out two-shape scenes: for the softmax model, the share whose two most probable
    classes are the two shapes present; for the sigmoid model, the share answered right."""
    if n < 1:
        return float("nan")
    images, present = make_scene_dataset(n, seed=seed)
    outputs = model.predict(images, batch_size=256, verbose=0)
    if spec.binary:
        return float((spec.predicted(outputs) == spec.targets(present)).mean())
    top_two = np.argsort(-outputs, axis=1)[:, :2]
    return float(np.take_along_axis(present, top_two, axis=1).all(axis=1).mean())


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
        description="Train the bundled shapes models on procedurally generated shapes.")
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
    parser.add_argument("--equivariance-epochs", type=int, default=EQUIVARIANCE_EPOCHS,
                        help=f"equivariance fine-tuning epochs (default {EQUIVARIANCE_EPOCHS})")
    parser.add_argument("--task", choices=[*TASKS, "all"], default="all",
                        help="which model to train (default: all)")
    parser.add_argument("--record", type=Path, default=None,
                        help="also write a training timeline into RECORD/<model>")
    args = parser.parse_args(argv)
    for task in TASKS if args.task == "all" else [args.task]:
        record = args.record / TASKS[task].stem if args.record is not None else None
        metrics = train(out_dir=args.out, n_train=args.n_train, epochs=args.epochs,
                        seed=args.seed, quick=args.quick, n_eval=args.n_eval, task=task,
                        equivariance_epochs=args.equivariance_epochs, record=record)
        print(json.dumps({k: v for k, v in metrics.items() if k != "per_class_accuracy"}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
