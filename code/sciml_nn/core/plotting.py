"""One look for every figure of the book: sizes, fonts, colours and grid.

Part of the shared core.
"""

from __future__ import annotations

import IPython
import matplotlib.pyplot as plt

#: Colours used for the same roles across chapters (colour-blind safe, from
#: matplotlib's tab10).
COLORS = {
    "network": "#1f77b4",
    "reference": "#ff7f0e",
    "error": "#d62728",
    "data": "#7f7f7f",
}


def use_book_style() -> None:
    """Set matplotlib's defaults for the book's figures (call once at the top
    of a chapter).

    In a notebook, every figure is kept as vector graphics, SVG: the website
    shows it, and the PDF edition's build converts it to PDF (rsvg-convert,
    ``sphinxcontrib.rsvgconverter`` in ``_config.yml``), so both stay sharp
    when zoomed or printed. One format drawn per figure, not two: drawing
    costs about as much as a small computation.
    """
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 110,
            "figure.facecolor": "white",  # readable in a dark page theme too
            "savefig.facecolor": "white",
            "savefig.dpi": 110,
            "font.size": 11,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "svg.hashsalt": "sciml-nn",  # the same SVG ids in every build
        }
    )
    shell = IPython.get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        # matplotlib-inline comes with every Jupyter kernel.
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("svg")
