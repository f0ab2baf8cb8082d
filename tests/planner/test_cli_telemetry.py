"""`planner collect` and `planner bench` as a user runs them, on replayed traces and a loopback server."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models import Store
from tests.planner.test_cli import _planner
from tests.telemetry.sse_server import ServerState, serving


def test_collect_replays_a_trace_into_the_store_and_records_it_again(sqlite_url, raw_reference: Path, tmp_path: Path):
    trace = raw_reference / "h100-2026-11-26" / "trace.csv"
    record = tmp_path / "again.csv"
    result = _planner("collect", "--replay", str(trace), "--power-limit", "700", "--record", str(record), env_db=sqlite_url)
    assert result.returncode == 0, result.stderr
    rows = sum(1 for _ in csv.DictReader(trace.open()))
    assert f"{rows} samples stored" in result.stdout
    assert "llama-8b/graph/b1/p512/decode/r0" in result.stdout and " 7.50 3163.1 " in " ".join(result.stdout.split())
    assert "under the 1 s minimum" in result.stdout
    assert "Ctrl-C" not in result.stderr  # a replay ends by itself
    table = [line.split() for line in result.stdout.splitlines()]
    header = next(line for line in table if line[:3] == ["label", "start_s", "s"])
    windows = [dict(zip(header, line, strict=False)) for line in table if len(line) >= len(header) - 1 and "/" in line[0]]
    repeated = [w for w in windows if w["label"] == windows[0]["label"]]
    assert len({w["start_s"] for w in repeated}) == len(repeated)  # same label, told apart by their start
    measured = [w for w in windows if w["mean_W"] != "-" and w["peak_W"] != "-"]
    assert measured and all(float(w["peak_W"]) >= float(w["mean_W"]) for w in measured)
    recorded = list(csv.DictReader(record.open()))
    assert len(recorded) == rows and recorded[100]["label"] == next(
        row["label"] for i, row in enumerate(csv.DictReader(trace.open())) if i == 100
    )
    runs = Store(sqlite_url).runs()
    collect_run = runs[runs.tool == "planner collect"].iloc[0]
    assert len(Store(sqlite_url).samples(int(collect_run.id))) == rows


def test_collect_on_a_machine_without_a_driver_points_at_replay(sqlite_url):
    pytest.importorskip("pynvml")
    result = _planner("collect", "--duration", "1", env_db=sqlite_url)
    if result.returncode == 0:
        pytest.skip("this machine has an NVIDIA driver")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "planner: error: NVML library not found: this machine has no NVIDIA driver. "
        "To fix: run on a GPU host, or replay a recorded trace with --replay FILE."
    ]


def test_collect_refuses_a_trace_with_missing_columns(sqlite_url, tmp_path: Path):
    broken = tmp_path / "broken.csv"
    broken.write_text("t_s,label,power_mW\n0.1,idle,70000\n")
    result = _planner("collect", "--replay", str(broken), env_db=sqlite_url)
    assert result.returncode == 2 and "lacks column(s) energy_mJ" in result.stderr


def _bench(url: str, sqlite_url: str, trace: Path, *extra: str):
    return _planner(
        "bench", "--model", "llama-8b", "--hardware", "h200", "--url", url, "--replay", str(trace),
        "--power-limit", "700", "--prompt-tokens", "16", "--output-tokens", "8", "--warmup", "0.2", "--window", "1.2",
        *extra, env_db=sqlite_url,
    )  # fmt: skip


def test_bench_stores_one_measurement_per_level_with_its_samples(sqlite_url, raw_reference: Path):
    trace = raw_reference / "h200-2026-11-26" / "trace.csv"
    with serving(ServerState(token_interval_s=0.003)) as url:
        result = _bench(url, sqlite_url, trace, "--concurrency", "1,8")
    assert result.returncode == 0, result.stderr
    assert "2 of 2 level(s) stored under bench/" in result.stdout
    assert "tpot_p95_ms" in result.stdout and "mJ_per_tok" in result.stdout
    store = Store(sqlite_url)
    benched = store.measurements(hardware="H200-SXM-141GB")
    benched = benched[benched.source.str.startswith("bench/") & (benched.runtime == "vllm")]  # the seeded bench runs are torch-decode
    assert sorted(benched.concurrency) == [1, 8]
    assert (benched.energy_scope == "whole_request").all() and (benched.decode_j > 0).all()
    run_id = int(benched.run_id.iloc[0])
    assert len(store.samples(run_id)) >= 2 * 1.2 * 10  # two windows at 10 Hz at least


@pytest.mark.parametrize(
    ("extra", "mode", "code", "fragment"),
    [
        (("--concurrency", "0"), "ok", 2, "concurrency 0 is not a number of requests in flight"),
        (("--concurrency", "4,x"), "ok", 2, "--concurrency '4,x' is not a list of whole numbers"),
        (("--concurrency", "2"), "http-500", 1, "no level gave a measurement; the first problem: every request failed"),
    ],
)
def test_bench_bad_levels_or_a_failing_server_end_in_one_line(sqlite_url, raw_reference: Path, extra, mode, code, fragment):
    trace = raw_reference / "h200-2026-11-26" / "trace.csv"
    with serving(ServerState(mode=mode)) as url:
        result = _bench(url, sqlite_url, trace, *extra)
    assert result.returncode == code, result.stderr
    assert fragment in result.stderr.strip().splitlines()[-1]


class _LiveLike:
    """A replayed trace on the wall clock, seen as a live source (not a ReplaySource), so
    `collect` takes its live path."""

    def __init__(self, replay):
        self._replay = replay

    def __getattr__(self, name):
        return getattr(self._replay, name)


def test_live_collect_without_a_duration_runs_until_ctrl_c_and_keeps_its_window(sqlite_url, raw_reference: Path):
    from planner.collecting import collect
    from telemetry.replay import ReplaySource
    from telemetry.sources import GpuInfo

    trace = raw_reference / "h200-2026-11-26" / "trace.csv"
    source = _LiveLike(ReplaySource.from_file(trace, [GpuInfo(0, "NVIDIA H200", None, 700.0)], speed=1.0))
    waited: list[float] = []

    def wait(seconds: float) -> None:
        waited.append(seconds)
        time.sleep(seconds)
        if len(waited) == 2:
            raise KeyboardInterrupt

    store = Store(sqlite_url)
    store.migrate()
    result = collect(store, source, rate_hz=20, duration_s=None, record=None, min_window_s=1.0, wait=wait)
    assert waited == [1.0, 1.0]
    (window,) = result.windows
    assert window.label == "collect" and window.usable and window.duration_s >= 2.0
    assert result.samples_written >= 30


def _torch_bench(sqlite_url: str, trace: Path, *extra: str):
    return _planner(
        "bench", "--workload", "torch-decode", "--model", "llama-3.2-1b", "--hardware", "h200", "--device", "cpu",
        "--replay", str(trace), "--power-limit", "700", "--prompt-tokens", "16", "--output-tokens", "4",
        "--warmup", "0", "--window", "1.0", *extra, env_db=sqlite_url,
    )  # fmt: skip


def test_bench_torch_decode_runs_the_real_1b_shape_on_the_cpu_into_a_phased_row(sqlite_url, raw_reference: Path):
    trace = raw_reference / "h200-2026-11-26" / "trace.csv"
    result = _torch_bench(sqlite_url, trace, "--concurrency", "2")
    assert result.returncode == 0, result.stderr
    assert "1 of 1 level(s) stored" in result.stdout
    assert result.stdout.split()[0] == "batch"
    rows = Store(sqlite_url).measurements(model="llama-3.2-1b", runtime="torch-decode", hardware="H200-SXM-141GB")
    (row,) = rows.itertuples()
    assert (row.energy_scope, row.batch, row.prompt_tokens, row.output_tokens) == ("phases", 2, 16, 4)
    assert row.prefill_tokens % (2 * 16) == 0 and row.prefill_j > 0 and row.decode_j > 0
    assert row.runtime_version.startswith("torch ") and row.runtime_version.endswith("float32, eager")
    listed = _planner("measurements", "--model", "llama-3.2-1b", env_db=sqlite_url)
    assert "torch-decode" in listed.stdout


def test_bench_torch_decode_refuses_a_url_and_names_a_missing_torch(sqlite_url, raw_reference: Path):
    trace = raw_reference / "h200-2026-11-26" / "trace.csv"
    result = _torch_bench(sqlite_url, trace, "--url", "http://127.0.0.1:8000")
    assert result.returncode == 2 and "--url is for --workload openai" in result.stderr
    without_torch = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['torch'] = None; from planner.cli import main; sys.exit(main(sys.argv[1:]))",
         "bench", "--workload", "torch-decode", "--model", "llama-3.2-1b", "--hardware", "h200", "--device", "cpu",
         "--replay", str(trace)],
        capture_output=True, text=True, env={**os.environ, "PLANNER_DB_URL": sqlite_url}, timeout=120, check=False,
    )  # fmt: skip
    assert without_torch.returncode == 2
    assert without_torch.stderr.strip() == (
        "planner: error: torch-decode needs PyTorch, which is not installed. To fix: pip install 'energy-planner[torch]'."
    )


def test_bench_torch_decode_refuses_to_charge_several_gpus_to_one(sqlite_url, tmp_path: Path):
    two_gpus = tmp_path / "two.csv"
    two_gpus.write_text("gpu_index,t_s,energy_mj\n0,0.0,1000\n1,0.0,2000\n0,0.1,1070\n1,0.1,2070\n")
    result = _torch_bench(sqlite_url, two_gpus)
    assert result.returncode == 2 and "torch-decode runs on one GPU but 2 are sampled" in result.stderr


def test_collect_tells_apart_replayed_windows_that_share_a_label(sqlite_url, raw_reference: Path):
    """The H200 run labels its prompt-512 and prompt-2048 windows of one batch alike."""
    trace = raw_reference / "h200-2026-11-26" / "trace.csv"
    result = _planner("collect", "--replay", str(trace), "--power-limit", "700", env_db=sqlite_url)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] == ["llama-8b/graph/b16/decode"]]
    assert len(rows) == 2 and rows[0][1] != rows[1][1]  # the second column is start_s
