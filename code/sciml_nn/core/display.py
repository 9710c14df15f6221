"""What a chapter hands to its page: glued values and Markdown tables.

Part of the shared core. The book's build (myst-nb) pastes a value that a cell
*glues* into the prose with ``{glue:text}`name```. Importing ``myst_nb`` for
that would break every chapter's notebook outside the build (Colab, a
download), where myst-nb is not installed; :func:`glue` writes the same output
with IPython alone, which every Jupyter kernel has.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from IPython import get_ipython
from IPython.core.formatters import format_display_data
from IPython.display import Markdown
from IPython.display import display as ipython_display

# myst-nb reads a glued value from an output whose MIME types carry this prefix
# (hidden output).
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: object, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the page to paste, as
    ``myst_nb.glue`` does.

    With ``display=False`` (the default) the cell shows nothing: the value
    appears where the text pastes it. Outside a Jupyter kernel there is no page
    to paste into, and nothing happens."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string; got {name!r}")
    if get_ipython() is None:
        return
    if isinstance(value, np.generic):
        # A NumPy scalar's repr is "np.float64(...)", which a format spec such
        # as {glue:text}`name:.2e` cannot format: paste the Python number.
        value = value.item()
    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipython_display(
        {prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata
    )


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Markdown:
    """A Markdown table with the column names ``header`` and one line per row
    of ``rows``.

    Each entry is written with ``str``: format numbers before passing them.
    """
    header = [str(name).replace("|", r"\|") for name in header]
    if not header:
        raise ValueError("header must name at least one column")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        row = [str(entry).replace("|", r"\|") for entry in row]
        if len(row) != len(header):
            raise ValueError(
                f"row {i} has {len(row)} entries; the header has {len(header)}"
            )
        lines.append("| " + " | ".join(row) + " |")
    return Markdown("\n".join(lines))
