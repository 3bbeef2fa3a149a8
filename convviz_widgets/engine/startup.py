"""Start TensorFlow quietly: students see the library's output, not TensorFlow's start-up log.

TensorFlow's C++ start-up writes a dozen lines to the process's standard error (oneDNN notes,
CPU features, "Could not find cuda drivers", a ``cuInit`` error on machines without a GPU, and
absl's "All log messages before absl::InitializeLog() …"), which a notebook shows as a pink
block under the first cell. :func:`quiet_tensorflow` runs before the package's first import of
TensorFlow: it sets ``TF_CPP_MIN_LOG_LEVEL=2`` (TensorFlow's own errors still show), imports
TensorFlow and lists its devices with the process's standard error pointed at ``/dev/null``
(absl writes the early lines before any setting is read), and sets the ``tensorflow`` Python
logger to errors only.

Nothing is changed when the user has chosen: if ``TF_CPP_MIN_LOG_LEVEL`` is set, TensorFlow is
already imported, or the ``tensorflow`` logger has a level of its own, the user's settings
stand. To see everything, set ``TF_CPP_MIN_LOG_LEVEL=0`` before importing the package.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

VARIABLE = "TF_CPP_MIN_LOG_LEVEL"


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at ``/dev/null`` within the block (C++ writes there directly)."""
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            sys.stderr.flush()
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


#: Functions the engine traces once per model (or per layer and objective), by design.
ONCE_PER_MODEL = ("_build_extractor", "LayerGradients._build", "InputGradients._build",
                  "WeightsWatch._build_sampler", "Scorer.__init__", "DeconvNet._build",
                  "FeatureVisualizer._build_step")


class ExpectedTracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning for the engine's functions.

    TensorFlow counts traces by the Python function's code object, so the functions of several
    models (each traced once per model, by design: a widget per model, a randomization check
    that builds copies) look to it like one function retracing; the warning would send users
    looking for a problem that is not there. Other retracing warnings pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("retracing" in message and any(name in message for name in ONCE_PER_MODEL))


_FILTER = ExpectedTracing()


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up log, unless the user chose otherwise (see the
    module's docstring). Safe to call any number of times."""
    tensorflow_logger = logging.getLogger("tensorflow")
    if _FILTER not in tensorflow_logger.filters:
        tensorflow_logger.addFilter(_FILTER)
    if "tensorflow" in sys.modules or VARIABLE in os.environ:
        return
    os.environ[VARIABLE] = "2"
    with _stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery logs now (cuInit), not later
    logger = logging.getLogger("tensorflow")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)
