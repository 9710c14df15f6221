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
