"""The `planner` console script as a user runs it."""

import os
import shutil
import subprocess
import sys

import pytest

COMMANDS = ["db", "measurements", "import", "collect", "bench", "plan", "forecast", "dashboard", "validate"]


def _planner(*args: str, env_db: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("planner") or ""
    command = [executable] if executable else [sys.executable, "-m", "planner.cli"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PLANNER_DB_URL": env_db},
        timeout=120,
        check=False,
    )


def test_help_lists_every_command(sqlite_url):
    result = _planner("--help", env_db=sqlite_url)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_db_info_on_a_new_store_shows_the_seeded_reference_data(sqlite_url):
    result = _planner("db", "info", env_db=sqlite_url)
    assert result.returncode == 0, result.stderr
    # 30 reference + 23 torch-decode points (8 on an H100 on 2026-11-27, 9 on an H100 and 6 on an H200 on 2026-11-28)
    # + 134 mapped ML.ENERGY v2 configurations
    assert "measurement 187" in result.stdout
    assert "H200-SXM-141GB" in result.stdout and "H100-SXM-80GB" in result.stdout
    assert "A100-SXM4-40GB" in result.stdout and "ML.ENERGY leaderboard v2" in result.stdout


def test_measurements_table_filters_by_alias(sqlite_url):
    result = _planner("measurements", "--model", "llama-8b", "--hardware", "NVIDIA H200", env_db=sqlite_url)
    assert result.returncode == 0, result.stderr
    assert "llama-3.1-8b" in result.stdout and "qwen2.5-32b" not in result.stdout
    assert "103.3" in result.stdout  # batch 256 end to end, as DESIGN.md computes it


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["nonsense"], "invalid choice: 'nonsense'"),
        (["db"], "the following arguments are required"),
        (["measurements", "--model", "gpt-9"], "unknown model 'gpt-9'"),
        (["import", "/no/such/file.csv"], "does not exist"),
        (["import", "--format", "parquet", "x"], "invalid choice: 'parquet'"),
        (["--db", "mysql://root@localhost/x", "db", "info"], "supports SQLite and PostgreSQL"),
    ],
)
def test_bad_input_ends_in_one_line_and_nonzero_exit(sqlite_url, args, fragment):
    result = _planner(*args, env_db=sqlite_url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0] and "To fix" in lines[0]
    assert "Traceback" not in result.stderr
