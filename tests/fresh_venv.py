"""A fresh virtual environment for the tests that install the package as a reader would
(``test_notebooks.py``, ``test_jax_backend.py``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_venv(home: Path) -> tuple[Path, Path, Path]:
    """Make a virtual environment in ``home``; return its Python, a constraints file with the
    book's pinned versions (the same numbers as the book, from pip's cache) and a copy of what
    the package's build reads (the files ``pip install "sciml-nn @ git+..."`` gets from the
    repository), so that no build folder lands in the checkout."""
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pins = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("-e", "#"))
    ]
    constraints = home / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    source = home / "source"
    shutil.copytree(ROOT / "code", source / "code", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "LICENSE-CONTENT"):
        shutil.copy2(ROOT / name, source / name)
    return venv / "bin" / "python", constraints, source
