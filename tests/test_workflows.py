"""The GitHub Actions workflows pass actionlint and zizmor (both from PyPI), as the issue requires.

Both tools are pinned in requirements.txt. Each check is paired with a deliberately broken
workflow that the same tool must reject, so a tool that silently checks nothing fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"

# A workflow with one mistake of each kind the tools exist to catch.
BROKEN_FOR_ACTIONLINT = """\
name: broken
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ nonexistent_context.x }}"
      - uses: actions/checkout@v4
        with:
          not-an-input: true
      - run: echo $UNQUOTED_VARIABLE
"""

BROKEN_FOR_ZIZMOR = """\
name: broken
on: pull_request_target
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def _executable(name: str) -> str:
    # Look beside this Python first (a virtual environment need not be on PATH), then on PATH.
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed (pip install -r requirements.txt installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # on CI a missing linter is a broken environment, not a skip
        pytest.skip(message)
    return found


def _workflow_files() -> list[str]:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) >= 2, f"expected book.yml and gpu.yml in {WORKFLOWS}; found {files}"
    return files


def _actionlint(*files: str) -> subprocess.CompletedProcess:
    command = [_executable("actionlint")]
    # actionlint checks the shell of run: steps only when it finds shellcheck; point it there.
    beside = Path(sys.executable).with_name("shellcheck")
    shellcheck = str(beside) if beside.exists() else shutil.which("shellcheck")
    if shellcheck is not None:
        command.append(f"-shellcheck={shellcheck}")
    return subprocess.run([*command, *files], capture_output=True, text=True, check=False)


def _zizmor(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_executable("zizmor"), "--offline", str(path)], capture_output=True, text=True, check=False
    )


def test_gpu_workflow_exists_and_checks_for_a_gpu():
    text = (WORKFLOWS / "gpu.yml").read_text(encoding="utf-8")
    assert "tensorflow[and-cuda]" in text
    assert "list_physical_devices('GPU')" in text
    assert "jupyter-book build . -W -n --keep-going" in text
    assert text.count("runs-on: ${{ vars.GPU_RUNNER") == 1


def test_actionlint_is_clean():
    result = _actionlint(*_workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN_FOR_ACTIONLINT, encoding="utf-8")
    result = _actionlint(str(broken))
    assert result.returncode != 0
    assert "nonexistent_context" in result.stdout
    assert "not-an-input" in result.stdout
    assert "SC2086" in result.stdout  # shellcheck ran on the run: step


def test_zizmor_is_clean():
    result = _zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_rejects_a_broken_workflow(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "broken.yml").write_text(BROKEN_FOR_ZIZMOR, encoding="utf-8")
    result = _zizmor(workflows)
    assert result.returncode != 0
    for audit in ("dangerous-triggers", "template-injection", "unpinned-uses"):
        assert audit in result.stdout + result.stderr, audit
