"""The package is laid out as the book is read: a shared core, then one module per chapter.

A chapter's code is found from the chapter's file name (``why-neural-networks.md`` has
``sciml_nn/why_neural_networks.py``; a second module takes the chapter's name as a prefix), and a
chapter's module imports only the core and the modules of earlier chapters, in the order of
``_toc.yml``. The core imports no chapter. Each module's docstring names its chapter, and each
chapter names its module near its top.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "code" / "sciml_nn"
CORE = "core"


def chapters_in_order() -> list[str]:
    """The chapters' files in the order of ``_toc.yml``, e.g. ``book/foundations/...``."""
    toc = (ROOT / "_toc.yml").read_text()
    files = re.findall(r"^\s*- file:\s*(\S+)\s*$", toc, flags=re.MULTILINE)
    return [f for f in files if "back-matter" not in f]


def module_name(chapter: str) -> str:
    """``book/foundations/why-neural-networks`` -> ``why_neural_networks``."""
    return chapter.rsplit("/", 1)[-1].replace("-", "_")


def chapter_of(module: str, chapters: list[str]) -> str | None:
    """The chapter a module belongs to: ``core`` for ``core.*``, else the chapter whose module
    name is the module's name or its prefix; ``None`` for a module of no chapter."""
    if module == CORE or module.startswith(CORE + "."):
        return CORE
    for chapter in chapters:
        name = module_name(chapter)
        if module == name or module.startswith(name + "_"):
            return chapter
    return None


def imported_modules(source: str) -> set[str]:
    """The ``sciml_nn`` modules a source imports, anywhere in it, relative to the package."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("sciml_nn."):
                found.add(name.removeprefix("sciml_nn."))
    return found


def layering_violations(sources: dict[str, str], chapters: list[str]) -> list[str]:
    """Every import of a later chapter's module, or of a chapter's module by the core."""
    rank = {chapter: i for i, chapter in enumerate(chapters)}
    rank[CORE] = -1
    modules = set(sources)
    violations = set()
    for module, source in sources.items():
        own = chapter_of(module, chapters)
        for imported in imported_modules(source):
            # "from sciml_nn.core.mlp import keras_mlp" names both the module and a function
            target = imported if imported in modules else imported.rsplit(".", 1)[0]
            if target not in modules or target == module:
                continue
            theirs = chapter_of(target, chapters)
            if rank[theirs] > rank[own] or (own == CORE and theirs != CORE):
                violations.add(f"{module} imports {target}")
    return sorted(violations)


def package_sources() -> dict[str, str]:
    return {
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts): path.read_text()
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    }


def test_layering_check_catches_an_upward_import():
    chapters = ["book/a/first", "book/b/second"]
    planted = {
        "core.mlp": "import numpy as np\n",
        "first": "from sciml_nn.core.mlp import keras_mlp\n",
        "second": "from sciml_nn.first import thing\n",
        "second_helpers": "from sciml_nn import second\n",
    }
    assert layering_violations(planted, chapters) == []
    planted["first"] += "def f():\n    from sciml_nn.second_helpers import g\n"
    planted["core.mlp"] += "import sciml_nn.first\n"
    assert sorted(layering_violations(planted, chapters)) == [
        "core.mlp imports first",
        "first imports second_helpers",
    ]


def test_no_module_imports_a_later_chapter():
    assert layering_violations(package_sources(), chapters_in_order()) == []


def test_every_module_belongs_to_the_core_or_a_chapter():
    chapters = chapters_in_order()
    orphans = [m for m in package_sources() if chapter_of(m, chapters) is None]
    assert orphans == []


@pytest.mark.parametrize("chapter", chapters_in_order())
def test_each_chapter_has_a_module_named_after_it(chapter):
    assert (PACKAGE / f"{module_name(chapter)}.py").is_file()


@pytest.mark.parametrize("module", sorted(package_sources()))
def test_module_docstring_names_its_chapter(module):
    chapter = chapter_of(module, chapters_in_order())
    docstring = ast.get_docstring(ast.parse(package_sources()[module])) or ""
    if chapter == CORE:
        assert "shared core" in docstring
    else:
        assert f"``{chapter}.md``" in docstring


@pytest.mark.parametrize("chapter", chapters_in_order())
def test_chapter_names_its_module_near_its_top(chapter):
    """The module is named before the chapter's first section heading."""
    page = (ROOT / f"{chapter}.md").read_text()
    top = page.split("\n## ", 1)[0]
    assert f"sciml_nn.{module_name(chapter)}" in top
