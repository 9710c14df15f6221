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
- **Colab.** Colab opens ``.ipynb`` files, not MyST markdown, so the Colab button points at the
  executed notebooks that the publishing workflow pushes to the ``notebooks`` branch.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

MATHJAX_DIR = "mathjax"  # below _static
# The parts of MathJax 3's es5 tree the tex-chtml component loads, now or lazily (menu, a11y).
MATHJAX_PARTS = ("tex-chtml.js", "input", "output", "ui", "a11y", "adaptors", "sre")

INSTALL_CELL = """\
```{{code-cell}} ipython3
:tags: [remove-cell]

# Outside the book's build (Colab, a downloaded notebook) the package may be missing: install it.
import importlib.util

if importlib.util.find_spec("sciml_nn") is None:
    %pip install --quiet "sciml-nn @ git+{url}"
import sciml_nn  # imports TensorFlow without its start-up log lines
```

"""
FRONT_MATTER = re.compile(r"\A---\n.*?^---\n", re.DOTALL | re.MULTILINE)


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
    source[0] = text[:end] + "\n" + INSTALL_CELL.format(url=_repository_url(app.config)) + text[end:]


def point_colab_at_notebooks(app: Sphinx, pagename: str, templatename: str, context, doctree) -> None:
    branch = app.config.notebooks_branch
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            if button.get("text") == "Colab":
                head, _, _ = button["url"].partition("/blob/")
                button["url"] = f"{head}/blob/{branch}/{pagename}.ipynb"


def setup(app: Sphinx) -> dict:
    app.add_config_value("notebooks_branch", "notebooks", "html")
    app.connect("config-inited", use_local_mathjax)
    app.connect("config-inited", add_substitutions)
    app.connect("env-before-read-docs", drop_thebe, priority=900)
    app.connect("source-read", add_install_cell)
    app.connect("html-page-context", point_colab_at_notebooks, priority=900)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
