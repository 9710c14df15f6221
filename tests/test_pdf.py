"""The PDF edition (``jupyter-book build . --builder pdflatex``, copied beside the site's
``index.html``): a whole book a reader would print.

Needs ``_build/latex/book.pdf`` and ``_build/html`` (``bash tests/run_all.sh`` builds both) and
Poppler's ``pdftotext``/``pdfinfo`` (Debian's ``poppler-utils``). Every count here is compared with
an outside one: the chapter titles with the sources' headings, the figures with the captions of the
built website, the solutions with the solution directives of the sources.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "book.pdf"
SITE = ROOT / "_build" / "html"


def _poppler(tool: str, *args: str) -> str:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: apt-get install poppler-utils")
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pdf_text() -> str:
    if not PDF.is_file():
        pytest.fail("no PDF in _build/latex: run `jupyter-book build . --builder pdflatex` first")
    return _poppler("pdftotext", "-enc", "UTF-8", str(PDF), "-")


@pytest.fixture(scope="module")
def latex_log() -> str:
    return (LATEX / "book.log").read_text(encoding="utf-8", errors="replace")


def _chapter_files() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return [ROOT / f"{name}.md" for name in files]


def _title(path: Path) -> str:
    return next(line[2:] for line in path.read_text().splitlines() if line.startswith("# "))


def _letters(text: str) -> str:
    """Lower-case letters and digits only: the PDF's text breaks lines, hyphenates and typesets
    x\u1d40x as x with a raised T, so compare titles by what a reader reads."""
    text = text.replace("\u1d40", "t")
    text = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("-\n", ""))


def test_letters_ignore_layout_but_not_words():
    assert _letters("Exercise: fit f(x) = x\u1d40x") == _letters("EXERCISE: FIT F(X) = XT X")
    assert _letters("Why neural net-\nworks") == _letters("Why neural networks")
    assert _letters("Forward mode") != _letters("Reverse mode")


def test_every_chapter_title_is_in_the_pdf(pdf_text):
    text = _letters(pdf_text)
    missing = [_title(path) for path in _chapter_files() if _letters(_title(path)) not in text]
    assert not missing, f"chapter titles not in the PDF's text: {missing}"


def test_no_unresolved_reference_or_citation(pdf_text, latex_log):
    assert "??" not in pdf_text
    undefined = re.findall(
        r"LaTeX Warning: (?:Hyper reference|Reference|Citation) `[^']*'[^\n]*undefined", latex_log
    )
    assert not undefined, undefined[:5]
    assert "There were undefined references" not in latex_log


def test_every_character_has_a_glyph(latex_log):
    missing = sorted(set(re.findall(r"Missing character: There is no (\S+)", latex_log)))
    assert not missing, f"characters the PDF's fonts cannot draw: {missing}"


def test_every_figure_of_the_site_is_in_the_pdf(pdf_text):
    site_figures = sum(
        page.read_text(encoding="utf-8").count("<figcaption")
        for page in (SITE / "book").rglob("*.html")
    )
    pdf_figures = set(re.findall(r"Fig\. (\d+\.\d+): ", pdf_text))
    assert site_figures > 0
    assert len(pdf_figures) == site_figures


def test_figures_of_cells_are_vector_graphics():
    tex = (LATEX / "book.tex").read_text(encoding="utf-8")
    # \sphinxincludegraphics[options]{{name}.ext}: Sphinx braces the name to protect its dots.
    included = re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{([^}]+)\}([^}]*)\}", tex)
    assert included
    names = [Path(stem + suffix) for stem, suffix in included]
    assert all((LATEX / name).is_file() for name in names)
    # Cell outputs are written under content-hash names; files of the sources keep theirs.
    outputs = [name for name in names if re.fullmatch(r"[0-9a-f]{64}", name.stem)]
    raster = [str(name) for name in outputs if name.suffix != ".pdf"]
    assert outputs and not raster, f"cell figures not in vector form: {raster[:5]}"


def test_exercises_come_with_their_solutions(pdf_text):
    directives = sum(
        len(re.findall(r"^[`:]{3,}\{solution(?:-start)?\}", path.read_text(), flags=re.MULTILINE))
        for path in _chapter_files()
    )
    assert directives > 0
    assert pdf_text.count("Solution to Exercise") == directives


def test_equations_are_numbered_by_chapter(pdf_text):
    assert len(set(re.findall(r"\((\d+\.\d+)\)", pdf_text))) > 100


def test_the_site_links_the_pdf():
    copy = SITE / "book.pdf"
    assert copy.is_file(), "the site has no book.pdf: copy _build/latex/book.pdf into _build/html"
    assert copy.read_bytes() == PDF.read_bytes()
    page = (SITE / "book" / "preface.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'href="([^"]*book\.pdf)"', page)
    assert hrefs and all((SITE / "book" / href).resolve() == copy.resolve() for href in hrefs)


def test_page_count(pdf_text):
    info = _poppler("pdfinfo", str(PDF))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.MULTILINE).group(1))
    print(f"the PDF edition has {pages} pages")
    assert 200 < pages < 1000
