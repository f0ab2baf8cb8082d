"""`planner import --format dcgm|prometheus` as a user runs it: a dump file, a loopback Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import Store
from planner.store_setup import open_store
from tests.planner.test_cli import _planner
from tests.telemetry.fleet_dump import exporter_dump, prometheus_server, recorded_window, unix_s


@pytest.fixture(scope="module")
def window():
    return recorded_window()


def _span(window) -> list[str]:
    return ["--start", f"{unix_s(window.start_s):.3f}", "--end", f"{unix_s(window.end_s):.3f}"]


def _fleet_rows(url: str):
    frame = Store(url).measurements()
    return frame[frame.source.str.startswith(("dcgm ", "prometheus "))]


def test_a_dcgm_dump_becomes_one_measurement_with_its_samples_and_imports_once(window, sqlite_url, tmp_path: Path):
    dump = tmp_path / "node-a.prom"
    dump.write_text(exporter_dump(window))
    result = _planner("import", "--format", "dcgm", str(dump), *_span(window), env_db=sqlite_url)
    assert result.returncode == 0, result.stderr
    assert "qwen2.5-32b H200-SXM-141GB x1" in " ".join(result.stdout.split())
    [row] = _fleet_rows(sqlite_url).itertuples()
    assert (row.model, row.hardware, row.energy_scope, row.tpot_stat, row.concurrency) == ("qwen2.5-32b", "H200-SXM-141GB", "whole_request", "p95", 1)
    assert abs(row.decode_j / row.decode_tokens - window.j_per_token) <= row.decode_uncertainty_j / row.decode_tokens
    assert row.prompt_tokens == window.prompt_tokens
    samples = Store(sqlite_url).samples(int(row.run_id))
    assert len(samples) == 20 and samples.power_w.notna().all()  # one scrape a second over the 20 s window
    again = _planner("import", "--format", "dcgm", str(dump), *_span(window), env_db=sqlite_url)
    assert again.returncode == 0 and len(_fleet_rows(sqlite_url)) == 1
    assert " 0 " in again.stdout.splitlines()[1]  # added 0


def test_prometheus_on_two_hosts_lands_in_either_store(window, store_url):
    dump = exporter_dump(window, instance="node-a:9400") + exporter_dump(window, instance="node-b:9400")
    with prometheus_server(dump) as (url, _):
        result = _planner("import", "--format", "prometheus", url, *_span(window), env_db=store_url)
    assert result.returncode == 0, result.stderr
    rows = _fleet_rows(store_url)
    runs = Store(store_url).runs().set_index("id")
    assert sorted(runs.loc[rows.run_id, "host"]) == ["node-a", "node-b"]
    assert set(rows.source) == {f"prometheus {url}"}


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--format", "prometheus", "http://127.0.0.1:9"], "--format prometheus needs --start and --end"),
        (["--format", "prometheus", "http://127.0.0.1:9", "--start", "yesterday", "--end", "0"], "--start 'yesterday' is not a time"),
        (["--format", "prometheus", "http://127.0.0.1:9", "--start", "2026-11-20T11:00Z", "--end", "2026-11-20T10:00Z"], "--end is not after --start"),
        (["--format", "dcgm", "/no/such/dump.prom"], "is not a file"),
        (["--format", "csv", "/no/such.csv", "--start", "0"], "--start/--end apply to --format dcgm and prometheus"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(sqlite_url, args: list[str], problem: str):
    result = _planner("import", *args, env_db=sqlite_url)
    assert result.returncode == 2
    assert problem in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_dump_without_timestamps_or_of_an_unknown_model_stores_nothing(window, sqlite_url, tmp_path: Path):
    open_store(sqlite_url)
    bare = tmp_path / "bare.prom"
    bare.write_text('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"} 3124099\n')
    result = _planner("import", "--format", "dcgm", str(bare), env_db=sqlite_url)
    assert result.returncode == 2 and "line 1 has no timestamp" in result.stderr
    unknown = tmp_path / "unknown.prom"
    unknown.write_text(exporter_dump(window, model_name="acme/secret-model"))
    result = _planner("import", "--format", "dcgm", str(unknown), *_span(window), env_db=sqlite_url)
    assert result.returncode == 2 and "acme/secret-model" in result.stderr and "data/aliases.csv" in result.stderr
    assert _fleet_rows(sqlite_url).empty
    assert not Store(sqlite_url).runs().tool.eq("planner import").any()


def test_join_label_reaches_the_import(window, sqlite_url, tmp_path: Path):
    dump = tmp_path / "k8s.prom"
    dump.write_text(
        "\n".join(
            line.replace('Hostname="node-a"', 'Hostname="node-a",exported_pod="vllm-0"') if line.startswith("DCGM")
            else line.replace('model_name="', 'pod="vllm-0",model_name="')
            for line in exporter_dump(window).splitlines()
        )
    )  # fmt: skip
    unjoined = _planner("import", "--format", "dcgm", str(dump), *_span(window), "--join-label", "pod", env_db=sqlite_url)
    assert unjoined.returncode == 2 and "no host has both" in unjoined.stderr
    joined = _planner("import", "--format", "dcgm", str(dump), *_span(window), "--join-label", "exported_pod,pod", env_db=sqlite_url)
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.splitlines()[1].split()[0] == "vllm-0"
