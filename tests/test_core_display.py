"""sciml_nn.core.display: glue writes what myst-nb's own glue writes; tables parse as Markdown tables."""

from __future__ import annotations

import re

import numpy as np
import pytest
from IPython.display import Markdown
from markdown_it import MarkdownIt

from sciml_nn.core import display


def _recorded_glue(monkeypatch, module, glue, *args, **kwargs) -> list[tuple]:
    """The calls that ``glue`` makes to IPython's ``display``, inside a (pretend) kernel."""
    calls = []
    monkeypatch.setattr(module, "get_ipython", lambda: object(), raising=False)
    name = "ipython_display" if module is display else "ipy_display"
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append((a, k)))
    glue(*args, **kwargs)
    return calls


@pytest.mark.parametrize("value", [1.25e-6, 3, "float32", Markdown("**CPU**")])
@pytest.mark.parametrize("shown", [False, True])
def test_glue_writes_what_myst_nb_writes(monkeypatch, value, shown):
    from myst_nb.ext import glue as myst_glue

    ours = _recorded_glue(monkeypatch, display, display.glue, "name", value, display=shown)
    theirs = _recorded_glue(monkeypatch, myst_glue, myst_glue.glue, "name", value, display=shown)
    assert ours == theirs and len(ours) == 1


def test_glue_pastes_numpy_scalars_as_python_numbers(monkeypatch):
    """myst-nb formats a pasted value with its format spec only if it reads as a number."""
    from myst_nb.ext import glue as myst_glue

    calls = _recorded_glue(monkeypatch, display, display.glue, "x", np.float32(0.25))
    reference = _recorded_glue(monkeypatch, myst_glue, myst_glue.glue, "x", 0.25, display=False)
    assert calls == reference
    assert calls[0][0][0][display.GLUE_PREFIX + "text/plain"] == "0.25"


def test_glue_outside_a_kernel_does_nothing(capsys):
    display.glue("x", 1.0)
    assert capsys.readouterr() == ("", "")


def test_glue_rejects_a_bad_name():
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        display.glue("", 1.0)
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        display.glue(3, 1.0)


def _cells(markdown: str) -> list[list[str]]:
    """The rows of the first table, as a Markdown parser with GFM tables reads them."""
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.DOTALL)
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", row, re.DOTALL) for row in rows]


def test_markdown_table_is_a_table():
    table = display.markdown_table(["width", "|error|"], [[64, "1.2e-05"], ["$|x|$", 2]])
    assert isinstance(table, Markdown)
    assert _cells(table.data) == [["width", "|error|"], ["64", "1.2e-05"], ["$|x|$", "2"]]


def test_markdown_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="row 1 has 3 entries; the header has 2"):
        display.markdown_table(["a", "b"], [[1, 2], [1, 2, 3]])
    with pytest.raises(ValueError, match="header must name at least one column"):
        display.markdown_table([], [])
