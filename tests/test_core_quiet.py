"""``sciml_nn.core.quiet``: TensorFlow imports without its C++ start-up log lines, and only those go."""

from __future__ import annotations

import os
import subprocess
import sys

from sciml_nn.core.quiet import silenced_stderr

TF_LOG_MARKERS = ("I0000", "E0000", "W0000", "oneDNN", "cudart_stub", "cpu_feature_guard")


def _stderr_of(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return result.stderr


def test_plain_tensorflow_import_prints_log_lines():
    # The reference the next test is measured against: without quieting, the lines appear.
    stderr = _stderr_of("import tensorflow as tf; tf.constant(1.0) + 1.0")
    assert any(marker in stderr for marker in TF_LOG_MARKERS), stderr


def test_importing_the_package_prints_nothing_and_keeps_stderr_working():
    stderr = _stderr_of(
        "import sys, sciml_nn, tensorflow as tf; tf.constant(1.0) + 1.0; "
        "print('after import', file=sys.stderr)"
    )
    assert stderr == "after import\n"


def test_silenced_stderr_drops_descriptor_2_only_inside_the_block():
    stderr = _stderr_of(
        "import os\n"
        "from sciml_nn.core.quiet import silenced_stderr\n"
        "with silenced_stderr():\n"
        "    os.write(2, b'inside\\n')\n"
        "os.write(2, b'outside\\n')\n"
    )
    assert stderr == "outside\n"


def test_silenced_stderr_restores_descriptor_2_after_an_error():
    before = os.fstat(2)
    try:
        with silenced_stderr():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
