"""Bad input, as a careless or hostile user gives it: one line naming the fix, the documented exit
code (README: 2 bad input, 1 other errors), no traceback, and nothing stored or written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from planner.cli import main
from planner.store_setup import open_store
from tests.planner.test_import_csv import GOOD_ROW, _write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "data" / "scenarios" / "example.yaml")
TRACE = str(ROOT / "tests" / "fixtures" / "reference" / "h200-2026-11-26" / "trace.csv")


def _csv(path: Path, **changes: str) -> str:
    return str(_write(path, [{**GOOD_ROW, **changes}]))


def _history(path: Path, rows: list[str]) -> str:
    path.write_text("timestamp,workload,tokens_per_s\n" + "\n".join(rows) + "\n")
    return str(path)


# (what, arguments built from tmp_path, exit code, fragment of the one line)
CASES = [
    ("a count beyond the Store's integers", lambda t: ["import", _csv(t / "a.csv", batch="99999999999999999999999")], 2,
     "is more than the Store's integer columns hold"),
    ("a count beyond PostgreSQL's int32", lambda t: ["import", _csv(t / "a.csv", batch="3000000000")], 2,
     "column batch (value '3000000000'): 3000000000 is more than"),
    ("a history value that is text", lambda t: ["forecast", EXAMPLE, "--history",
     _history(t / "h.csv", ["2026-01-15,chat-8b,abc", "2026-02-15,chat-8b,10"])], 2, "line 2, column tokens_per_s: 'abc' is not a number"),
    ("an enormous history value", lambda t: ["forecast", EXAMPLE, "--history",
     _history(t / "h.csv", ["2026-01-15,chat-8b,1e308", "2026-02-15,chat-8b,1e308"])], 2, "is beyond any fleet"),
    ("an infinite history value", lambda t: ["forecast", EXAMPLE, "--history",
     _history(t / "h.csv", ["2026-01-15,chat-8b,inf", "2026-02-15,chat-8b,10"])], 2, "is beyond any fleet"),
    ("a horizon of 1000 months", lambda t: ["forecast", EXAMPLE, "--horizon", "1000"], 2, "outside 1..120"),
    ("month 13", lambda t: ["forecast", EXAMPLE, "--start", "2026-13"], 2, "--start '2026-13' is not a month"),
    ("a gap of 2", lambda t: ["forecast", EXAMPLE, "--gap", "2"], 2, "--gap 2.0 must be a fraction"),
    ("a plan's gap of 1", lambda t: ["plan", EXAMPLE, "--gap", "1"], 2, "--gap 1.0 must be a fraction"),
    ("a time limit of 0", lambda t: ["plan", EXAMPLE, "--time-limit", "0"], 2, "--time-limit 0.0 must be positive"),
    ("a forecast's time limit of -1", lambda t: ["forecast", EXAMPLE, "--time-limit", "-1"], 2, "--time-limit -1.0 must be positive"),
    ("a URL of another database", lambda t: ["--db", "mysql://root@localhost/x", "db", "info"], 2, "supports SQLite and PostgreSQL"),
    ("a URL that is not one", lambda t: ["--db", "::::", "db", "info"], 2, "cannot read the database URL"),
    ("a file that is not SQLite", lambda t: ["--db", f"sqlite:///{(t / 'x.db').write_text('hello') and t / 'x.db'}", "db", "info"], 1,
     "file is not a database"),
    ("an unknown model", lambda t: ["measurements", "--model", "gpt-9"], 2, "unknown model 'gpt-9'"),
    ("a sampling rate of 0", lambda t: ["collect", "--replay", TRACE, "--rate", "0"], 2, "--rate 0 is out of range"),
    ("a power limit of 0", lambda t: ["collect", "--replay", TRACE, "--power-limit", "0"], 2, "--power-limit 0 is not a power limit"),
    ("a placement onto a folder", lambda t: ["plan", EXAMPLE, "-o", str((t / "p.yaml").mkdir() or t / "p.yaml")], 2, "is a folder"),
    ("a placement into no folder", lambda t: ["plan", EXAMPLE, "-o", str(t / "none" / "p.yaml")], 2, "does not exist"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "code", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_ends_in_one_line(tmp_path, sqlite_url, capsys, build, code, fragment):
    args = build(tmp_path)
    if args[0] != "--db":
        args = ["--db", sqlite_url, *args]
    assert main(args) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and lines[-1].startswith("planner: error:") and fragment in lines[-1], captured.err
    assert "Traceback" not in captured.err
    if args[2] == "import":
        rows = open_store(sqlite_url).measurements(runtime="vllm")
        assert rows[rows.source == GOOD_ROW["source"]].empty  # nothing stored


def test_a_closed_pipe_ends_quietly(sqlite_url):
    """`planner measurements | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    environment = {**os.environ, "PLANNER_DB_URL": sqlite_url}
    subprocess.run([sys.executable, "-m", "planner.cli", "db", "info"], env=environment, capture_output=True, check=True)
    result = subprocess.run(
        f"{sys.executable} -m planner.cli measurements | head -1", shell=True, env=environment, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_many_first_uses_of_a_new_store_at_once(store_url):
    """Three commands opening the same new Store together: one creates and seeds it, the others wait."""
    environment = {**os.environ, "PLANNER_DB_URL": store_url}
    processes = [
        subprocess.Popen([sys.executable, "-m", "planner.cli", "db", "info"], env=environment, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    results = [(process.wait(timeout=300), *process.communicate()) for process in processes]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    counts = {line for _, out, _ in results for line in out.splitlines() if line.startswith("rows:")}
    assert len(counts) == 1  # every one saw the same, fully seeded Store


def test_two_imports_of_one_file_into_postgresql_at_once(postgres_url, tmp_path):
    open_store(postgres_url)
    path = _csv(tmp_path / "a.csv")
    environment = {**os.environ, "PLANNER_DB_URL": postgres_url}
    processes = [
        subprocess.Popen([sys.executable, "-m", "planner.cli", "import", path], env=environment, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    results = [(process.wait(timeout=300), *process.communicate()) for process in processes]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    rows = open_store(postgres_url).measurements(runtime="vllm")
    assert len(rows[rows.source == GOOD_ROW["source"]]) == 1


def test_a_read_only_store_plans_and_refuses_writes_in_one_line(tmp_path, sqlite_url, capsys):
    open_store(sqlite_url)  # a current, seeded Store
    read_only = f"sqlite:///file:{sqlite_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    assert main(["--db", read_only, "plan", EXAMPLE, "--no-baselines"]) == 0
    capsys.readouterr()
    assert main(["--db", read_only, "import", _csv(tmp_path / "a.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write to the Store" in err[0] and "readonly database" in err[0]
