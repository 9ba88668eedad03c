"""``scrapesched demo`` end to end: real replica processes, two cycles, tables equal to the truth, exit 0."""

from __future__ import annotations

import pytest

from conftest import cli_env, run_cli
from scrapesched.cli.demo import DEMO_TOKEN


@pytest.mark.slow
def test_demo_exits_0_with_tables_equal_to_the_truth() -> None:
    result = run_cli("demo", "--prs", "15", "--interval", "2", env=cli_env(), timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "OK: every table equals the fake GitHub's ground truth" in out
    for replica in ("replica-1", "replica-2", "replica-3"):
        assert f"  {replica}: " in out
    assert "github_prs" in out and "pr_states " in out
    assert DEMO_TOKEN not in out + result.stderr
