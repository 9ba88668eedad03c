"""The layers contract that `.ci/run` checks with import-linter holds, and really fails on an import that
points up or on product code that imports the test doubles (checked on a copy of the package)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH puts the copy's scrapesched ahead of the editable install (whose finder comes last).
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "scrapesched-src"
    skip = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "tests", "bench")
    shutil.copytree(REPO_ROOT, copy, symlinks=True, ignore=skip)
    return copy


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")


def test_the_layers_contract_holds_on_the_tree(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_that_points_up_breaks_the_contract(tree: Path) -> None:
    _append(tree / "scheduler" / "runs.py", "from scrapesched.scrapers import http")
    result = _lint(tree)
    assert result.returncode != 0
    assert "scrapesched.scheduler.runs -> scrapesched.scrapers.http" in result.stdout


def test_product_code_importing_the_test_doubles_breaks_the_contract(tree: Path) -> None:
    _append(tree / "locks" / "table.py", "from scrapesched.testing import scratch")
    result = _lint(tree)
    assert result.returncode != 0
    assert "scrapesched.locks.table -> scrapesched.testing.scratch" in result.stdout
