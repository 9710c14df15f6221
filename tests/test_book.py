"""The built book, read as files: no TensorFlow log lines, math served locally, notebooks that
run on their own. Needs ``_build/html`` (``jupyter-book build .``)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
# What TensorFlow's C++ logging and its CUDA probe print (absl format "I0000 00:00:...").
TF_LOG = re.compile(
    r"[IWEF]\d{4} \d\d:\d\d:\d\d|oneDNN|absl::|cudart_stub|cuda_platform|cpu_feature_guard"
)


def _repository_url() -> str:
    config = (ROOT / "_config.yml").read_text()
    return re.search(r"^repository:\s*(?:#.*)?\n\s+url:\s*(\S+)", config, re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def html_pages() -> dict[Path, str]:
    if not (SITE / "index.html").is_file():
        pytest.fail("no built site in _build/html: run `jupyter-book build .` first")
    return {p: p.read_text(encoding="utf-8") for p in SITE.rglob("*.html")}


@pytest.fixture(scope="module")
def notebooks() -> dict[Path, dict]:
    paths = sorted((SITE / "_sources").rglob("*.ipynb"))
    if not paths:
        pytest.fail("no executed notebooks in _build/html/_sources")
    return {p: json.loads(p.read_text()) for p in paths}


def test_tf_log_pattern_matches_real_log_lines():
    # Guard the guard: these are lines TensorFlow 2.21 prints on import without quieting.
    assert TF_LOG.search("I0000 00:00:1795561777.963962    2341 port.cc:153] oneDNN custom")
    assert TF_LOG.search("E0000 00:00:1795561779.690436    2341 cuda_platform.cc:52] failed")
    assert not TF_LOG.search("The loss falls to 1.2e-05 after 3000 steps.")


def test_no_tensorflow_log_line_on_any_page(html_pages):
    noisy = {str(p.relative_to(SITE)) for p, text in html_pages.items() if TF_LOG.search(text)}
    assert noisy == set()


def test_no_stderr_output_in_executed_notebooks(notebooks):
    streams = [
        (str(path.name), output.get("text", ""))
        for path, nb in notebooks.items()
        for cell in nb["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]
    assert streams == []


# Markdown that only a MyST parser understands: a table rule, a colon fence, inline math.
RAW_MARKUP = re.compile(r"\|\s*(?:---|—)|:::|\$[^$\s][^$]*\$")


def _rendered_outputs(text: str) -> list[str]:
    """The text of each cell output that was rendered as Markdown (not printed text)."""
    outputs = re.findall(
        r'<div class="cell_output docutils container">(.*?)</div>\s*</div>', text, re.DOTALL
    )
    return [html.unescape(re.sub(r"<[^>]+>", "", o)) for o in outputs if "<pre" not in o]


def test_raw_markup_pattern_matches_unrendered_markdown():
    assert RAW_MARKUP.search("| dtype | GFLOP/s |\n|---|---|")
    assert RAW_MARKUP.search("|—|—|")  # CommonMark's smart dashes turn --- into —
    assert RAW_MARKUP.search(":::{note}\nNo GPU sweep\n:::")
    assert RAW_MARKUP.search("widths $(n, n, n, 1)$")
    assert not RAW_MARKUP.search("it costs 6 ms, 2.5 % of peak, at $5 a month")
    # What a CommonMark renderer made of a table and a note (copied from an earlier build), and
    # what the MyST renderer makes of them: only the first is flagged.
    commonmark = (
        '<div class="cell_output docutils container">\n<p>Median time on <strong>CPU</strong>:</p>'
        "\n<p>| width | float64 |\n|—|—|\n| 64 | 1.25 ms |</p>\n</div>\n</div>"
        '<div class="cell_output docutils container">\n<p>:::{note}\nThe numbers</p>\n</div>\n</div>'
    )
    myst = (
        '<div class="cell_output docutils container">\n<table class="table">\n<thead><tr>'
        "<th>width</th></tr></thead><tbody><tr><td>64</td></tr></tbody></table>\n</div>\n</div>"
    )
    assert [bool(RAW_MARKUP.search(o)) for o in _rendered_outputs(commonmark)] == [True, True]
    assert [bool(RAW_MARKUP.search(o)) for o in _rendered_outputs(myst)] == [False]


def test_markdown_outputs_are_rendered(html_pages):
    """Tables, admonitions and math that cells print with IPython's Markdown reach the page as
    HTML, not as the raw text a CommonMark renderer leaves (nb_render_markdown_format: myst)."""
    raw = {
        str(p.relative_to(SITE)): match.group(0)
        for p, text in html_pages.items()
        for output in _rendered_outputs(text)
        if (match := RAW_MARKUP.search(output))
    }
    assert raw == {}
    precision = html_pages[SITE / "book" / "performance" / "precision.html"]
    assert precision.count("<table") >= 3 and 'class="admonition note"' in precision


def test_mathjax_is_served_from_the_site(html_pages):
    assert (SITE / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (SITE / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    with_math = [text for text in html_pages.values() if "mathjax/tex-chtml.js" in text]
    assert len(with_math) >= 4
    cdn = [p for p, text in html_pages.items() if re.search(r"src=\"https?://[^\"]*mathjax", text)]
    assert cdn == []


def test_downloaded_notebooks_install_the_package_first(notebooks):
    url = _repository_url()
    assert url.startswith("https://github.com/")
    for path, nb in notebooks.items():
        first = nb["cells"][0]
        source = "".join(first["source"])
        assert first["cell_type"] == "code", path
        assert f'git+{url}"' in source and 'find_spec("sciml_nn") is None' in source, path
        assert "remove-cell" in first["metadata"].get("tags", []), path


def test_colab_buttons_open_the_executed_notebooks(html_pages):
    url = _repository_url().replace(
        "https://github.com/", "https://colab.research.google.com/github/"
    )
    chapter = SITE / "book" / "exercise" / "fit-xtx.html"
    assert f"{url}/blob/notebooks/book/exercise/fit-xtx.ipynb" in html_pages[chapter]
    assert "_sources/book/exercise/fit-xtx.ipynb" in html_pages[chapter]


def test_no_thebe_scripts(html_pages):
    assert not [p for p, text in html_pages.items() if "THEBE_JS_URL" in text]


# ---------------------------------------------------------------- what a page pastes and shows

EXECUTED = ROOT / "_build" / "jupyter_execute"  # myst-nb writes each page's glued values here
# A glue role ({glue:text}`name:.2f`) or directive (```{glue:figure} name) that pastes a value.
GLUE_REFERENCE = re.compile(
    r"\{glue(?::\w*)?\}`([^`:<>]+)|^\s*```+\{glue(?::\w*)?\}\s+(\S+)", re.MULTILINE
)


def shown_glue_names(page: str) -> set[str]:
    """The glued names that a page's MyST source pastes, outside comments (which never show)."""
    page = re.sub(r"<!--.*?-->", "", page, flags=re.DOTALL)
    text = "\n".join(line for line in page.splitlines() if not line.lstrip().startswith("%"))
    return {role or directive for role, directive in GLUE_REFERENCE.findall(text)}


def test_shown_glue_names_finds_roles_and_directives_but_not_comments():
    page = (
        "The error is {glue:text}`err-f32:.1e` on {glue:md}`device`, and {glue}`n`.\n"
        "% {glue:text}`commented-out`\n<!-- {glue:text}`hidden` -->\n"
        "```{glue:figure} fig-loss\n:name: fig-loss\n```\n"
    )
    assert shown_glue_names(page) == {"err-f32", "device", "n", "fig-loss"}
    # A planted page that glues a value it never shows is caught.
    glued = {"err-f32", "device", "n", "fig-loss", "commented-out", "never-pasted"}
    assert glued - shown_glue_names(page) == {"commented-out", "never-pasted"}


def test_every_glued_value_is_shown():
    """A value a cell glues but no sentence pastes is a claim the reader never sees."""
    glue_files = sorted(EXECUTED.rglob("*.glue.json"))
    assert len(glue_files) >= 15, "no glued values found: build the book first"
    unused = {}
    for path in glue_files:
        page = (ROOT / path.relative_to(EXECUTED)).with_name(path.name.replace(".glue.json", ".md"))
        missing = set(json.loads(path.read_text())) - shown_glue_names(page.read_text())
        if missing:
            unused[str(page.relative_to(ROOT))] = sorted(missing)
    assert unused == {}


def split_streams(notebook: dict) -> list[int]:
    """Indices of the cells whose printed output comes in more than one block per stream."""
    split = []
    for index, cell in enumerate(notebook["cells"]):
        names = [o["name"] for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
        if len(names) != len(set(names)):
            split.append(index)
    return split


def test_split_streams_finds_a_cell_printed_in_two_blocks():
    one = {"output_type": "stream", "name": "stdout", "text": "a\n"}
    picture = {"output_type": "display_data", "data": {}, "metadata": {}}
    cells = [{"outputs": [one, picture]}, {"outputs": [one, picture, one]}, {"outputs": []}]
    assert split_streams({"cells": cells}) == [1]


def test_printed_output_of_a_cell_is_one_block(notebooks):
    split = {str(p.relative_to(SITE)): split_streams(nb) for p, nb in notebooks.items()}
    assert {page: cells for page, cells in split.items() if cells} == {}


FIGURE_IMAGE = re.compile(r'<img\b[^>]*\bsrc="[^"]*_images/[^"]*"[^>]*>')


def test_every_figure_has_alt_text_and_a_caption(html_pages):
    """Every plotted figure says in words what it shows (alt) and what to see (caption)."""
    bad = []
    count = 0
    for path, text in html_pages.items():
        for match in FIGURE_IMAGE.finditer(text):
            count += 1
            alt = re.search(r'\balt="([^"]*)"', match.group(0))
            alt = html.unescape(alt.group(1)) if alt else ""
            if len(alt.split()) < 5 or "_images/" in alt or re.search(r"\.(png|svg|pdf)$", alt):
                bad.append((str(path.relative_to(SITE)), alt[:60]))
            opened = text.rfind("<figure", 0, match.start())
            closed_before = text.rfind("</figure>", 0, match.start())
            caption = text.find("<figcaption>", match.end())
            closes = text.find("</figure>", match.end())
            if opened <= closed_before or not 0 <= caption < closes:
                bad.append((str(path.relative_to(SITE)), "no caption"))
    assert count >= 40 and bad == []
