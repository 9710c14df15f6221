"""Chapter notebooks run where readers run them: downloaded, or opened in Colab.

A fresh virtual environment gets only what a notebook's first cell would install (the package,
with its declared dependencies at the book's pinned versions) and a Jupyter kernel. Built
notebooks from ``_build/html/_sources`` (the files the download button serves) then run top to
bottom in an empty folder outside the repository. Needs the built book and the package index
(pip). ``SCIML_NN_STANDALONE=all`` runs every chapter instead of the two below.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nbformat
import pytest
from fresh_venv import fresh_venv
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "_build" / "html" / "_sources"
# The first chapter, and a performance chapter that shows measured sweeps shipped with the
# package: together they use the shared core, glue, Markdown output, figures and package data.
CHOSEN = ["book/foundations/neural-networks", "book/performance/where-the-time-goes"]
KERNEL = "package-only"


def _chapters() -> list[str]:
    if os.environ.get("SCIML_NN_STANDALONE") == "all":
        return sorted(
            str(p.relative_to(SOURCES).with_suffix(""))
            for p in SOURCES.rglob("*.ipynb")
            if "back-matter" not in p.parts
        )
    return CHOSEN


@pytest.fixture(scope="module")
def package_only_kernel(tmp_path_factory) -> tuple[KernelSpecManager, dict]:
    """A kernel whose Python has only the package, its dependencies and ipykernel."""
    if not SOURCES.is_dir():
        pytest.fail("no built notebooks in _build/html/_sources: run `jupyter-book build .`")
    home = tmp_path_factory.mktemp("package-only")
    python, constraints, source = fresh_venv(home)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(source), "ipykernel", "-c", constraints],
        check=True,
    )
    spec = home / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return KernelSpecManager(kernel_dirs=[str(home / "kernels")]), env


def test_the_environment_has_only_the_package(package_only_kernel):
    manager, env = package_only_kernel
    python = manager.get_kernel_spec(KERNEL).argv[0]
    probe = (
        "import importlib.util as u, sciml_nn; "
        "print(sciml_nn.__file__); "
        "print([m for m in ('myst_nb', 'jupyter_book', 'pytest') if u.find_spec(m)])"
    )
    lines = subprocess.run(
        [python, "-c", probe], env=env, cwd="/", capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert not lines[0].startswith(str(ROOT)), "the kernel must not import the repository's copy"
    assert lines[1] == "[]"


@pytest.mark.parametrize("chapter", _chapters())
def test_built_notebook_runs_with_only_the_package(package_only_kernel, chapter, tmp_path):
    manager, env = package_only_kernel
    notebook = nbformat.read(SOURCES / f"{chapter}.ipynb", as_version=4)
    kernel = KernelManager(kernel_name=KERNEL, kernel_spec_manager=manager)
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},  # an empty folder, not the book's
    )
    try:
        client.execute(env=env)  # raises CellExecutionError on the first failing cell
    finally:
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)  # a kernel we started is ours to stop
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    # The book's style draws every figure once, as SVG (the PDF edition's build converts it).
    figures = [o["data"] for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert figures, "no figure was drawn"
    assert not [f for f in figures if "application/pdf" in f or "image/png" in f]
    stderr = [o["text"] for o in outputs if o.get("name") == "stderr"]
    assert stderr == [], "the reader would see log lines or warnings"
