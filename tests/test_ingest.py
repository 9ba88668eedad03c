"""``scrapesched ingest upgrade-results``: the seed team's external test runners get a way in.

Through the real CLI on every backend: JSON lines and CSV (from a file and from stdin) land in
``upgrade_test_results`` through the one upsert, re-ingesting a file changes nothing, and a file with a
bad record is refused with every bad line named and nothing of it written.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from conftest import REPO_ROOT, cli_env, run_cli, scrapesched_cmd


def _record(build: int, **extra: Any) -> dict[str, Any]:
    return {
        "jenkins_build_number": build,
        "upgrade_start_version": "4.18.0.0",
        "upgrade_target_version": "4.19.0.0",
        "management_server_os": "ol8",
        "hypervisor": "kvm",
        "hypervisor_version": "ubuntu22",
        "timestamp_start": "2026-11-30T10:00:00Z",
        "timestamp_end": "2026-11-30T11:02:03+00:00",
        "result": "PASS",
        "total_tests": 40,
        "failed_tests": 0,
        "duration_seconds": 3723,
        "build_url": f"https://jenkins.example/job/upgrade/{build}/",
        **extra,
    }


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT jenkins_build_number, hypervisor, result, failed_tests, timestamp_start "
                    "FROM upgrade_test_results ORDER BY jenkins_build_number"
                )
            )
        )


def test_jsonl_and_csv_records_are_upserted_by_their_natural_key(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=db_url)
    first = tmp_path / "results.jsonl"
    first.write_text(_jsonl([_record(101), _record(102, result="FAIL", failed_tests=3)]))
    done = run_cli("ingest", "upgrade-results", str(first), env=env)
    assert done.returncode == 0, done.stderr
    assert "ingested 2 record(s)" in done.stdout

    again = run_cli("ingest", "upgrade-results", str(first), env=env)  # same file: same two rows
    assert again.returncode == 0, again.stderr

    # A CSV from stdin corrects build 102 (same natural key) and adds 103; empty cells are "not given".
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_record(0)))
    writer.writeheader()
    writer.writerow(_record(102, result="PASS", failed_tests=0))
    writer.writerow(_record(103, timestamp_end="", result="", total_tests="", failed_tests=""))
    piped = subprocess.run(
        [*scrapesched_cmd(), "ingest", "upgrade-results", "--format", "csv", "-"],
        input=out.getvalue(),
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr

    rows = _rows(engine)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (101, "kvm", "PASS", 0),
        (102, "kvm", "PASS", 0),
        (103, "kvm", None, None),
    ]


def test_a_file_with_bad_records_names_each_line_and_writes_nothing(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=db_url)
    bad = tmp_path / "results.jsonl"
    bad.write_text(
        _jsonl([_record(201)])
        + json.dumps(_record(True))
        + "\n"  # a boolean is not a build number
        + json.dumps({**_record(203), "timestamp_start": "2026-11-30T10:00:00"})
        + "\n"  # no time zone
        + json.dumps(_record(204, failed_tests=50))
        + "\n"  # more failed than run
        + json.dumps(_record(205, hypervisor="x" * 100))
        + "\n"  # longer than the column
        + json.dumps(_record(206, colour="blue"))
        + "\n"  # a typo'd field
        + "{not json\n"
        + _jsonl([_record(208)])
    )
    done = run_cli("ingest", "upgrade-results", str(bad), env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert [line.split(": ")[2] for line in lines[:-1]] == [f"line {n}" for n in (2, 3, 4, 5, 6, 7)], lines
    assert "jenkins_build_number" in lines[0] and "timezone" in lines[1] and "failed_tests" in lines[2]
    assert "hypervisor" in lines[3] and "colour" in lines[4] and "not JSON" in lines[5]
    assert lines[-1].endswith("6 of 8 record(s) in " + str(bad) + " are invalid; nothing was written")
    assert _rows(engine) == []


def test_missing_and_undecodable_files_are_one_line_exit_2(tmp_path: Path) -> None:
    env = cli_env(DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    binary = tmp_path / "results.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for path, expected in ((str(tmp_path / "absent.jsonl"), "no such file"), (str(binary), "not UTF-8")):
        done = run_cli("ingest", "upgrade-results", path, env=env)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr
