"""No stale results: a chapter is re-executed when a package module it imports changes, and only
then (``book/_ext/book_tools.py``).

The end-to-end test builds a two-chapter book with its own small package three times: from
scratch, again without changes (nothing may execute), and after an edit of a module that only
the first chapter imports, through another module (only that chapter may execute, and its page
must show the new result)."""

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from book_tools import package_dependencies, sources_hash

PACKAGE = ROOT / "code" / "sciml_nn"

CONFIG = f"""\
title: stale-cache test
only_build_toc_files: true
exclude_patterns: [_build, pkg]
execute:
  execute_notebooks: cache
  cache: _build/.jupyter_cache
  raise_on_error: true
repository:
  url: https://github.com/sciml-nn/sciml-nn-book
sphinx:
  local_extensions:
    book_tools: {ROOT / "book" / "_ext"}
  config:
    package_name: pkg
    package_sources: pkg
"""
TOC = "format: jb-book\nroot: intro\nchapters:\n  - file: one\n  - file: two\n"
HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
CHAPTER = HEADER + "# {title}\n\n```{{code-cell}} ipython3\n{code}\n```\n"


def dependencies(chapter: str) -> set[str]:
    text = (ROOT / "book" / f"{chapter}.md").read_text()
    files = package_dependencies(text, PACKAGE, "sciml_nn")
    return {path.relative_to(PACKAGE).as_posix() for path in files}


def test_a_chapter_depends_on_what_it_imports_and_nothing_else():
    neural = dependencies("foundations/neural-networks")
    assert {"__init__.py", "neural_networks.py", "core/mlp.py", "core/quiet.py"} <= neural
    assert "precision.py" not in neural and "fit_xtx.py" not in neural
    # through other modules: the operators chapter imports the Poisson solver of the ConvNets,
    # which imports the ConvNet chapter's module
    operators = dependencies("equations/solution-operators")
    assert {"solution_operators.py", "convolutional_networks_poisson.py",
            "convolutional_networks.py"} <= operators
    assert "physics_informed_networks.py" not in operators
    # package data that a module names (the GPU sweeps of the timing chapters)
    assert "sweeps/README.md" in dependencies("performance/where-the-time-goes")


def test_the_hash_follows_the_content_of_the_files(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import base\n")
    (package / "b.py").write_text("base = 1\n")
    text = "```{code-cell} ipython3\nimport pkg.a\n```\n"
    files = package_dependencies(text, package, "pkg")
    assert [f.name for f in files] == ["__init__.py", "a.py", "b.py"]
    before = sources_hash(files, package)
    (package / "b.py").write_text("base = 1\n")  # same content, new mtime
    assert sources_hash(files, package) == before
    (package / "b.py").write_text("base = 2\n")
    assert sources_hash(files, package) != before


def build(book: Path) -> tuple[set[str], float]:
    """Build the book; return the chapters whose notebooks were executed, and the seconds."""
    start = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", "."],
        cwd=book,  # the cache path of _config.yml is relative to the working directory
        check=False, capture_output=True, text=True, timeout=600,
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    executed = set(re.findall(r"/(\w+)\.md: Executed notebook", result.stdout + result.stderr))
    return executed, seconds


def test_an_edit_re_executes_exactly_the_chapters_that_import_it(tmp_path):
    book = tmp_path / "book"
    package = book / "pkg"
    package.mkdir(parents=True)
    (book / "_config.yml").write_text(CONFIG)
    (book / "_toc.yml").write_text(TOC)
    (book / "intro.md").write_text(
        "# Intro\n\nTwo chapters, each importing its own module of a small package.\n")
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import base\n\nvalue = base + 1\n")
    (package / "b.py").write_text("base = 1\n")
    (package / "c.py").write_text("other = 5\n")
    (book / "one.md").write_text(CHAPTER.format(
        title="One", code='from pkg.a import value\n\nprint(f"value = {value}")'))
    (book / "two.md").write_text(CHAPTER.format(
        title="Two", code='from pkg.c import other\n\nprint(f"other = {other}")'))

    executed, seconds = build(book)
    assert executed == {"one", "two"}
    assert "value = 2" in (book / "_build/html/one.html").read_text()

    executed, seconds = build(book)
    print(f"\nrebuild without changes: {seconds:.1f} s, executed {sorted(executed)}")
    assert executed == set()

    (package / "b.py").write_text("base = 41\n")  # imported by one (through a), not by two
    executed, seconds = build(book)
    assert executed == {"one"}
    assert "value = 42" in (book / "_build/html/one.html").read_text()

    (package / "c.py").write_text("other = 5\n")  # rewritten, same content: nothing to run
    executed, seconds = build(book)
    assert executed == set()
