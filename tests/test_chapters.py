"""The chapters' sources, read as text: what their code cells import, read and print.

A chapter's notebook must run where readers run it (Colab, a download) with only what its first
cell installs: the package and its declared dependencies. These checks need no build.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(
    p for p in (ROOT / "book").rglob("*.md") if p.read_text().startswith("---\njupytext:")
)
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
COLUMN = 79  # characters of code that fit the page's text column


def code_cells(page: str) -> list[str]:
    """The source of each code cell of a MyST notebook, without its front matter."""
    cells = []
    for cell in CODE_CELL.findall(page):
        if cell.startswith("---\n"):
            cell = cell.split("\n---\n", 1)[1]
        cells.append(re.sub(r"^:tags:.*\n", "", cell))
    return cells


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules that Python code imports (IPython magics skipped)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    modules = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def declared_distributions() -> set[str]:
    """The package's runtime dependencies as pyproject.toml declares them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        _normalise(re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0]) for d in project["dependencies"]
    }


def undeclared_imports(modules: set[str], declared: set[str]) -> set[str]:
    """Modules that are neither the standard library, the package, nor a declared dependency."""
    providers = packages_distributions()  # installed module name -> distributions providing it
    return {
        module
        for module in modules
        if module not in sys.stdlib_module_names
        and module != "sciml_nn"
        and not {_normalise(d) for d in providers.get(module, [])} & declared
    }


def test_code_cells_and_imports_are_read_as_python_reads_them():
    page = (
        "---\njupytext: {}\n---\n\n```{code-cell} ipython3\n---\ntags: [hide-input]\n---\n"
        "import numpy as np\nfrom myst_nb import glue\n%matplotlib inline\n```\n\ntext\n\n"
        "```{code-cell} ipython3\nimport os.path, ml_dtypes\nfrom . import x\n```\n"
    )
    cells = code_cells(page)
    assert len(cells) == 2 and cells[0].startswith("import numpy")
    modules = imported_modules("\n".join(cells))
    assert modules == {"numpy", "myst_nb", "os", "ml_dtypes"}
    # myst_nb and ml_dtypes are installed here but are no dependency of the package.
    assert undeclared_imports(modules, declared_distributions()) == {"myst_nb", "ml_dtypes"}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_imports_only_the_package_and_its_dependencies(chapter):
    modules = imported_modules("\n".join(code_cells(chapter.read_text())))
    assert undeclared_imports(modules, declared_distributions()) == set()


# A string that names a place in the repository outside the package: a notebook opened in Colab
# or downloaded alone has none of it.
REPOSITORY_PATH = re.compile(r"""["'](?:\.\./|\./)?(?:book|code|tests|_build|\.\.)/""")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_reads_no_file_of_the_repository(chapter):
    cells = "\n".join(code_cells(chapter.read_text()))
    assert REPOSITORY_PATH.findall(cells) == []


def test_repository_path_pattern():
    assert REPOSITORY_PATH.search('sorted(Path("book/data").glob("*.json"))')
    assert REPOSITORY_PATH.search("open('../../code/sciml_nn/timing.py')")
    assert not REPOSITORY_PATH.search('files("sciml_nn") / "sweeps"')


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_code_fits_the_text_column(chapter):
    wide = [
        line
        for cell in code_cells(chapter.read_text())
        for line in cell.splitlines()
        if len(line) > COLUMN
    ]
    assert wide == []


def test_package_code_fits_the_text_column():
    """Pages show the package's functions with literalinclude: every line must fit."""
    wide = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "code").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if len(line) > COLUMN
    ]
    assert wide == []


MARKDOWN_PASTE = re.compile(r"\{glue:md\}`([^`]*)`")


def test_markdown_pastes_are_read_as_myst():
    """``{glue:md}`name``` parses the value as CommonMark, which leaves $math$ and {ref} roles
    as raw text; ``{glue:md}`name:myst``` parses it as the pages are parsed."""
    plain = [
        f"{page.relative_to(ROOT)}: {name}"
        for page in [*CHAPTERS, ROOT / "book" / "preface.md"]
        for name in MARKDOWN_PASTE.findall(page.read_text())
        if not name.endswith(":myst")
    ]
    assert plain == []
    assert MARKDOWN_PASTE.findall("is {glue:md}`verdict:myst` and {glue:md}`x`") == [
        "verdict:myst",
        "x",
    ]
