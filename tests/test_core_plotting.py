"""``sciml_nn.core.plotting``: the book's figure style."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba

from sciml_nn.core.plotting import COLORS, use_book_style


def test_book_style_draws_on_white_with_a_grid():
    with matplotlib.rc_context():
        plt.rcParams["figure.facecolor"] = (1, 1, 1, 0)  # what Jupyter's inline backend sets
        use_book_style()
        assert to_rgba(plt.rcParams["figure.facecolor"]) == (1.0, 1.0, 1.0, 1.0)
        assert to_rgba(plt.rcParams["savefig.facecolor"]) == (1.0, 1.0, 1.0, 1.0)
        assert plt.rcParams["axes.grid"] is True
        assert not plt.rcParams["axes.spines.top"] and not plt.rcParams["axes.spines.right"]


def test_role_colours_are_distinct_valid_colours():
    rgba = [to_rgba(c) for c in COLORS.values()]
    assert len(set(rgba)) == len(rgba) == 4


def test_in_a_notebook_figures_are_kept_as_svg_only():
    """IPython's own display formatter, as a kernel has it, renders a figure once, as SVG (the
    website shows it, the PDF edition's build converts it), and no longer as PNG."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        with matplotlib.rc_context():
            use_book_style()
            fig, ax = plt.subplots()
            ax.plot([0, 1], [1, 0])
            data, _ = shell.display_formatter.format(fig)
            plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
    assert set(data) == {"image/svg+xml", "text/plain"}
    assert data["image/svg+xml"].lstrip().startswith("<?xml")


def test_outside_a_notebook_the_style_touches_no_shell():
    with matplotlib.rc_context():
        use_book_style()  # plain Python: no IPython shell, nothing to configure
        assert plt.rcParams["svg.hashsalt"] == "sciml-nn"
