"""Import TensorFlow without its start-up log lines.

Part of the shared core. On import, TensorFlow 2.21 writes several lines from
C++ straight to file descriptor 2: which CPU math library it uses, the result
of probing for CUDA drivers, the CPU instructions it was built for. They are
written before TensorFlow's logging is set up, so the environment variable
``TF_CPP_MIN_LOG_LEVEL`` does not stop them, and Jupyter kernels copy file
descriptor 2 into the notebook, so they would land on the book's pages. We
point descriptor 2 at ``/dev/null`` while TensorFlow imports and probes for
devices, then restore it: later Python warnings and errors still show.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 2 to ``/dev/null`` inside the
    block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow and Keras with their start-up log lines silenced;
    return ``tensorflow``.

    After the first call TensorFlow is in ``sys.modules`` and ``import
    tensorflow`` anywhere else is silent. The C++ log threshold is raised to
    errors-only for messages logged later.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with silenced_stderr():
        import keras  # noqa: F401
        import tensorflow as tf

        # The CUDA probe ("failed call to cuInit") runs when devices are first
        # listed. Listing physical devices does not create the logical ones, so
        # they can still be configured (sciml_nn.scaling_out.split_cpu) until
        # the first operation runs.
        tf.config.list_physical_devices()
    return tf
