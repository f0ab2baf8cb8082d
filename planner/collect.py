"""`planner collect` and `planner bench`: telemetry wired to the Store.

A run row is written first so the sampler's writer thread can store samples while the workload
runs; measurements follow at the end of each level. Whatever happens, the samples already taken
stay stored.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from models import Catalog, CatalogError, RunRecord, SampleRecord, Store
from planner.errors import InputError
from telemetry.bench import BenchSettings, LevelOutcome, run_bench
from telemetry.collector import Collector
from telemetry.energy_window import TelemetryError
from telemetry.loadgen import Workload
from telemetry.replay import ReplaySource, read_trace, replay_windows, write_trace
from telemetry.sources import EnergySource, GpuInfo, NvmlSource
from telemetry.windows import WindowMeasurement


def _tool_version() -> str:
    try:
        return version("energy-planner")
    except PackageNotFoundError:
        return "source tree"


def open_source(replay: Path | None, gpu_indices: tuple[int, ...] | None, power_limit_w: float | None, speed: float | None) -> EnergySource:
    """The live GPUs, or a recorded trace standing in for them."""
    if replay is None:
        return NvmlSource(gpu_indices)
    try:
        samples = read_trace(replay)
    except TelemetryError as error:
        raise InputError(str(error)) from error
    limit_w = power_limit_w if power_limit_w is not None else float("inf")
    gpus = sorted({sample.gpu_index for sample in samples})
    infos = [GpuInfo(gpu_index=index, name=f"replay of {replay.name}", driver_version=None, power_limit_w=limit_w) for index in gpus]
    return ReplaySource(samples, infos, speed=speed)


def start_run(store: Store, source: EnergySource, tool: str, runtime: str | None = None, key: str | None = None) -> tuple[int, RunRecord]:
    gpus = source.gpus()
    host = socket.gethostname()
    started = datetime.now(UTC)
    run = RunRecord(
        source_key=key or f"{tool.split()[-1]}/{host}/{started:%Y-%m-%dT%H:%M:%S.%fZ}",
        source=f"{tool} on {host}: {', '.join(sorted({gpu.name for gpu in gpus}))}",
        host=host,
        gpu_name=gpus[0].name if gpus else None,
        driver_version=gpus[0].driver_version if gpus else None,
        power_limit_w=sum(gpu.power_limit_w for gpu in gpus) if gpus else None,
        runtime=runtime,
        tool=tool,
        tool_version=_tool_version(),
        started_at=started,
    )
    run_id, _, _ = store.add_run(run)
    return run_id, run


def sample_writer(store: Store, run_id: int, also: list[SampleRecord] | None = None) -> Callable[[Sequence[SampleRecord]], None]:
    def write(batch: Sequence[SampleRecord]) -> None:
        store.add_samples(run_id, batch)
        if also is not None:
            also.extend(batch)

    return write


@dataclass(frozen=True)
class CollectResult:
    run_key: str
    samples_written: int
    windows: tuple[WindowMeasurement, ...]
    errors: tuple[str, ...]


def collect(
    store: Store,
    source: EnergySource,
    rate_hz: float,
    duration_s: float | None,
    record: Path | None,
    min_window_s: float,
    wait: Callable[[float], None],
) -> CollectResult:
    """Passive sampling. A replayed trace is walked whole and each labelled stretch becomes a
    window; a live source is sampled for `duration_s` (or until interrupted)."""
    run_id, run = start_run(store, source, "planner collect")
    recorded: list[SampleRecord] = []
    collector = Collector(source, sink=sample_writer(store, run_id, recorded if record else None), rate_hz=rate_hz, min_window_s=min_window_s)
    windows: list[WindowMeasurement] = []
    try:
        if isinstance(source, ReplaySource):
            windows = replay_windows(source, collector)
        else:
            with collector, collector.window("collect") as whole:
                try:
                    if duration_s is None:
                        while True:  # until Ctrl-C
                            wait(1.0)
                    wait(duration_s)
                except KeyboardInterrupt:
                    pass  # the end of a collection, not an error: the window and samples are kept
            if whole.result is not None:
                windows = [whole.result]
    finally:
        collector.stop()
        if record is not None and recorded:
            write_trace(recorded, record)
        source.close()
    return CollectResult(run.source_key, collector.stats.samples_written, tuple(windows), tuple(collector.stats.errors))


def _rounded(value: float | None, digits: int | None = None) -> float | None:
    """`round` that lets a missing value through (no digits: a whole number, as `round` gives)."""
    return None if value is None else round(value, digits)


def windows_table(windows: tuple[WindowMeasurement, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "label": window.label,
                "s": round(window.duration_s, 2),
                "J": _rounded(window.energy_j, 1),
                "+-J": _rounded(window.uncertainty_j, 1),
                "mean_W": _rounded(window.mean_power_w),
                "peak_W": _rounded(window.peak_power_w),
                "flag": "; ".join(window.notes) or "",
            }
            for window in windows
        ]
    )


def resolve_bench_names(catalog: Catalog, model: str, hardware: str | None, source: EnergySource) -> tuple[str, str]:
    """The catalog's names for the model and the GPU (from the card's own name by default)."""
    try:
        model_name = catalog.resolve("llm", model)
        if hardware is None:
            names = {gpu.name for gpu in source.gpus()}
            if len(names) != 1:
                raise InputError(f"the GPUs are {sorted(names)}: name the type. To fix: pass --hardware.")
            hardware = names.pop()
        return model_name, catalog.resolve("gpu", hardware)
    except CatalogError as error:
        raise InputError(f"{error}. To fix: pass --model/--hardware as the catalog names them (see data/).") from error


def bench(
    store: Store,
    source: EnergySource,
    workload: Workload,
    settings: BenchSettings,
    rate_hz: float,
    on_level: Callable[[LevelOutcome], None],
) -> list[LevelOutcome]:
    """Run the sweep; store each level's measurement as soon as it is taken."""
    run_id, _ = start_run(store, source, "planner bench", runtime=settings.runtime, key=settings.source)
    collector = Collector(source, sink=sample_writer(store, run_id), rate_hz=rate_hz, min_window_s=settings.window_s)

    def store_level(outcome: LevelOutcome) -> None:
        if outcome.measurement is not None:
            store.add_measurements([outcome.measurement])
        on_level(outcome)

    try:
        with collector:
            return run_bench(collector, workload, settings, store_level)
    finally:
        source.close()


def bench_table(outcomes: list[LevelOutcome]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                # a phased workload (torch-decode) runs static batches, not requests in flight
                ("batch" if outcome.prefill is not None else "concurrency"): outcome.concurrency,
                "tok_s": _rounded(outcome.output_tok_s, 1),
                "tpot_p95_ms": _rounded(outcome.tpot_p95_ms, 2),
                "ttft_ms": _rounded(outcome.ttft_ms, 1),
                "W": _rounded(outcome.window.mean_power_w if outcome.window else None, 0),
                "mJ_per_tok": _rounded(None if outcome.j_per_token is None else outcome.j_per_token * 1000, 2),
                "stored": outcome.measurement is not None,
                "flag": "; ".join(outcome.problems + tuple(outcome.window.notes if outcome.window else ())),
            }
            for outcome in outcomes
        ]
    )
