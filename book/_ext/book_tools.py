"""Sphinx glue for the book, kept in one place.

- **Offline math.** MathJax 3 is copied at build time from the ``django-static-mathjax`` wheel
  (pinned in ``requirements.txt``) into ``_static/mathjax``; pages load it from there, never from a CDN.
- **No Thebe.** Jupyter Book always loads ``sphinx_thebe``, whose inline
  ``const THEBE_JS_URL = ...`` script lands twice on a page and throws ``THEBE_JS_URL has already
  been declared``. The book has no live-code button, so its scripts are dropped.
- **Standalone notebooks.** Every notebook chapter gets a first code cell that installs the
  ``sciml_nn`` package from the repository when it is missing (Colab, a downloaded ``.ipynb``).
  The cell is removed from the web page and kept in the notebook. The repository URL comes
  from ``_config.yml`` (``repository.url``), the one place it is written; pages that need it
  use the MyST substitutions ``{{ repository_url }}`` and ``{{ pip_install }}``.
- **No stale results.** jupyter-cache keys a notebook on its code cells only, so an edit of the
  package would leave every page showing old results. Each chapter's install cell therefore
  carries, as cell metadata, a hash of the package modules the chapter imports (directly or
  through other modules of the package), and Sphinx is told that the chapter depends on those
  files: an edit re-executes exactly the chapters that import the edited module, and a rebuild
  without changes executes nothing.
- **Accessible pages.** The bibliography's entries get the ``listitem`` role their list requires,
  and the boxes of hidden cell inputs are named by their visible text (two theme buttons get the
  same fix from the templates in ``book/_templates``).
- **Meta description.** Every page gets a ``<meta name="description">`` made from its first
  paragraph, for search engines and link previews.
- **Colab.** Colab opens ``.ipynb`` files, not MyST markdown, so the Colab button points at the
  executed notebooks that the publishing workflow pushes to the ``notebooks`` branch.
"""

from __future__ import annotations

import ast
import hashlib
import html
import importlib.util
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

MATHJAX_DIR = "mathjax"  # below _static
# The parts of MathJax 3's es5 tree the tex-chtml component loads, now or lazily (menu, a11y).
MATHJAX_PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y", "adaptors", "sre")

INSTALL_CELL = """\
```{{code-cell}} ipython3
:tags: [remove-cell]
:package_sources: {sources}

# Outside the book's build (Colab, a downloaded notebook) the package may be missing: install it.
import importlib.util

if importlib.util.find_spec("sciml_nn") is None:
    %pip install --quiet "sciml-nn @ git+{url}"
import sciml_nn  # imports TensorFlow without its start-up log lines
```

"""
FRONT_MATTER = re.compile(r"\A---\n.*?^---\n", re.DOTALL | re.MULTILINE)
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _imports(code: str, package: str) -> set[str]:
    """The modules of ``package`` that Python code imports: for ``from p.m import a`` both
    ``p.m`` and ``p.m.a`` (when ``a`` is a module, the caller keeps only names with a file)."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n == package or n.startswith(package + ".")}


def _module_file(root: Path, package: str, name: str) -> Path | None:
    path = root.joinpath(*name.split(".")[1:])
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def package_dependencies(text: str, root: Path, package: str) -> list[Path]:
    """The files of ``package`` (its sources under ``root``) that a chapter's code cells import,
    directly or through each other, with the ``__init__.py`` of every package on the way."""
    pending = {package} | {n for cell in CODE_CELL.findall(text) for n in _imports(cell, package)}
    found: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        parts = name.split(".")
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        pending |= {".".join(parts[:k]) for k in range(1, len(parts))} - found.keys()
        path = _module_file(root, package, name)
        if name in found or path is None:
            continue
        found[name] = path
        pending |= _imports(path.read_text(encoding="utf-8"), package) - found.keys()
    # package data (a folder without __init__.py, such as the GPU sweeps) that a module names
    data = [
        file
        for folder in root.iterdir()
        if folder.is_dir() and not (folder / "__init__.py").exists() and folder.name != "__pycache__"
        and any(folder.name in path.read_text(encoding="utf-8") for path in found.values())
        for file in folder.rglob("*")
        if file.is_file()
    ]
    return sorted({*found.values(), *data})


def sources_hash(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _mathjax_source() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "MathJax is served from the site itself and comes from the 'django-static-mathjax' "
            "package: pip install -r requirements.txt"
        )
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():
        raise RuntimeError(f"no MathJax 3 tex-chtml.js under {es5}")
    return es5


def use_local_mathjax(app: Sphinx, config) -> None:
    _mathjax_source()  # fail early, before a long build, if the package is missing
    config.mathjax_path = f"{MATHJAX_DIR}/tex-chtml.js"


def add_substitutions(app: Sphinx, config) -> None:
    """``{{ pip_install }}`` in a page: the install command, built from ``repository.url``."""
    url = _repository_url(config)
    config.myst_substitutions = {
        **config.myst_substitutions,
        "repository_url": url,
        "pip_install": f'`pip install "sciml-nn @ git+{url}"`',
    }


def _repository_url(config) -> str:
    url = config.html_theme_options.get("repository_url", "").rstrip("/")
    if not url:
        raise RuntimeError("_config.yml must set repository.url: notebooks install the package from it")
    return url


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = _mathjax_source(), Path(app.outdir) / "_static" / MATHJAX_DIR
    target.mkdir(parents=True, exist_ok=True)
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            shutil.copy2(source / part, target / part)
    shutil.copy2(source.parent / "LICENSE", target / "LICENSE")  # MathJax is Apache-2.0


def drop_thebe(app: Sphinx, env, docnames) -> None:
    def is_thebe(filename: str, attributes: dict) -> bool:
        return "thebe" in (filename or "") or "THEBE_JS_URL" in attributes.get("body", "")

    app.registry.js_files = [
        (name, attrs) for name, attrs in app.registry.js_files if not is_thebe(name, attrs)
    ]
    builder_files = getattr(app.builder, "_js_files", None)
    if builder_files is not None:
        builder_files[:] = [
            js for js in builder_files if not is_thebe(js.filename, dict(js.attributes))
        ]


def add_install_cell(app: Sphinx, docname: str, source: list[str]) -> None:
    text = source[0]
    match = FRONT_MATTER.match(text)
    if not match or "jupytext:" not in match.group(0):
        return  # not a notebook chapter
    end = match.end()
    root = Path(app.srcdir) / app.config.package_sources
    files = package_dependencies(text, root, app.config.package_name)
    for path in files:
        app.env.note_dependency(str(path))  # an edit of the file makes Sphinx re-read the page
    cell = INSTALL_CELL.format(url=_repository_url(app.config), sources=sources_hash(files, root))
    source[0] = text[:end] + "\n" + cell + text[end:]


def point_colab_at_notebooks(app: Sphinx, pagename: str, templatename: str, context, doctree) -> None:
    branch = app.config.notebooks_branch
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            if button.get("text") == "Colab":
                head, _, _ = button["url"].partition("/blob/")
                button["url"] = f"{head}/blob/{branch}/{pagename}.ipynb"


def fix_bibliography_roles(app: Sphinx, pagename: str, templatename: str, context, doctree) -> None:
    """The bibliography's entries are ``role="doc-biblioentry"`` inside a ``role="list"``; DPUB-ARIA
    1.1 deprecates that role and assistive technology no longer takes it for a list item, so a
    screen reader finds a list without items. ``listitem`` is the role the list requires."""
    if "body" in context and 'role="doc-biblioentry"' in context["body"]:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def add_description(app: Sphinx, pagename: str, templatename: str, context, doctree) -> None:
    text = app.config.project
    if doctree is not None:
        for paragraph in doctree.findall(nodes.paragraph):
            words = " ".join(paragraph.astext().split())
            if len(words) >= 60:
                text = words
                break
    if len(text) > 160:
        text = text[:157].rsplit(" ", 1)[0] + "..."
    tag = f'<meta name="description" content="{html.escape(text, quote=True)}" />'
    context["metatags"] = context.get("metatags", "") + "\n" + tag


def visit_hidden_cell(self, node) -> None:
    """myst-nb's box around a hidden cell input, with its ``<summary>`` named by its visible text
    ("Show code cell source"): myst-nb labels it "Toggle hidden content", a name that does not
    contain the text a reader sees (WCAG 2.5.3, label in name)."""
    from myst_nb.sphinx_ import visit_HideCellInput

    visit_HideCellInput(self, node)
    for i in range(len(self.body) - 1, -1, -1):
        if self.body[i] == '<summary aria-label="Toggle hidden content">\n':
            self.body[i] = "<summary>\n"
            break


def setup(app: Sphinx) -> dict:
    app.add_config_value("notebooks_branch", "notebooks", "html")
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput

    app.add_node(HideCodeCellNode, override=True, html=(visit_hidden_cell, depart_HideCellInput))
    app.add_config_value("package_name", "sciml_nn", "env")
    app.add_config_value("package_sources", "code/sciml_nn", "env")
    app.connect("config-inited", use_local_mathjax)
    app.connect("config-inited", add_substitutions)
    app.connect("env-before-read-docs", drop_thebe, priority=900)
    app.connect("source-read", add_install_cell)
    app.connect("html-page-context", point_colab_at_notebooks, priority=900)
    app.connect("html-page-context", add_description)
    app.connect("html-page-context", fix_bibliography_roles)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
