"""`planner demand-series`: vLLM token counters on a loopback Prometheus (and in a dump) turned
into the demand series `planner schedule` reads, rates checked against how the counters grew."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.cli import main
from planner.formats.time_series import DEMAND_COLUMNS, read_series
from tests.telemetry.fleet_dump import prometheus_server

START_S = 1_783_036_800  # 2026-07-03T00:00:00Z
RATES = {  # tok/s per engine and hour
    ("llama-3.1-8b", "a"): [12000, 20000, 31000],
    ("llama-3.1-8b", "b"): [8000, 15000, 19000],
    ("qwen2.5-32b", "c"): [900, 1400, 2000],
}
SCENARIO = Path(__file__).resolve().parents[2] / "data" / "scenarios" / "example.yaml"


def _dump() -> str:
    """A scrape a minute of each engine's counter; engine a restarts (counter from 0) at 01:30."""
    lines = []
    for (model, engine), rates in RATES.items():
        total = 0.0
        for minute in range(3 * 60 + 1):
            if minute:
                total += 60 * rates[min((minute - 1) // 60, 2)]
            if engine == "a" and minute == 90:
                total = 0.0
            stamp_ms = (START_S + 60 * minute) * 1000
            lines.append(f'vllm:generation_tokens_total{{model_name="{model}",instance="{engine}:8000"}} {total} {stamp_ms}')
    return "\n".join(lines) + "\n"


def test_counters_on_prometheus_become_a_series_schedule_reads(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "demand.csv"
    with prometheus_server(_dump()) as (url, _):
        code = main(["--db", sqlite_url, "demand-series", url, "--start", str(START_S), "--end", str(START_S + 3 * 3600),
                     "--workload", "llama-3.1-8b=chat-8b", "--workload", "qwen2.5-32b=assistant-32b", "-o", str(output)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    series = read_series(output, "workload", DEMAND_COLUMNS, exactly_one=True)
    assert len(series.starts) == 3 and series.step.total_seconds() == 3600
    chat = series.values["chat-8b"]["tokens_per_s"]
    for hour in range(3):
        # the last minute of an hour is scraped at its end: each interval's rate is its own hour's
        assert chat[hour] == pytest.approx(RATES[("llama-3.1-8b", "a")][hour] + RATES[("llama-3.1-8b", "b")][hour], rel=1e-9)
    assert series.values["assistant-32b"]["tokens_per_s"] == pytest.approx(tuple(RATES[("qwen2.5-32b", "c")]), rel=1e-9)
    assert main(["--db", sqlite_url, "schedule", str(SCENARIO), "--demand", str(output), "--no-baselines"]) == 0
    assert "3 intervals of 60 min" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--step", "60"], "outside 5 minutes to an hour"),
        (["--workload", "mistral-7b=chat"], "which no engine served"),
        (["--workload", "llama-3.1-8b=chat", "--workload", "qwen2.5-32b=chat"], "twice"),
        (["--workload", "llama-3.1-8b"], "is not MODEL=WORKLOAD"),
    ],
)
def test_bad_arguments_end_in_one_line(extra: list[str], fragment: str, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "metrics.prom"
    dump.write_text(_dump())
    output = tmp_path / "demand.csv"
    code = main(["--db", sqlite_url, "demand-series", str(dump), "--format", "dcgm", "--start", str(START_S),
                 "--end", str(START_S + 3 * 3600), *extra, "-o", str(output)])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert fragment in error and len(error.strip().splitlines()) == 1
    assert not output.exists()


def test_a_window_the_monitoring_does_not_cover_is_refused(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "metrics.prom"
    dump.write_text(_dump())
    code = main(["--db", sqlite_url, "demand-series", str(dump), "--format", "dcgm", "--start", str(START_S),
                 "--end", str(START_S + 5 * 3600), "-o", str(tmp_path / "demand.csv")])  # fmt: skip
    assert code == 2
    assert "no engine has two scrapes in the interval from 2026-07-03T03:00:00Z" in capsys.readouterr().err
