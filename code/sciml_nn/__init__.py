"""Code of the course book *Neural Networks for Scientific Machine Learning,
with TensorFlow*.

Each module holds the code of one chapter idea; the book shows it with
``literalinclude`` and runs it by importing it. Importing the package imports
TensorFlow quietly (see :mod:`sciml_nn.core.quiet`), so no log line of
TensorFlow's reaches a page or a test's output. Where TensorFlow is not
installed (Keras on its JAX backend), the package imports without it.
"""

import importlib.util

from sciml_nn.core.quiet import import_tensorflow

if importlib.util.find_spec("tensorflow") is not None:
    import_tensorflow()

__version__ = "0.1.0"
