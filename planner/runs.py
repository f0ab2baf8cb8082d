"""Telemetry runs wired to the Store: the energy source (live GPUs or a replayed trace), the run
row written first, and the sink that stores samples while the workload runs (so whatever happens,
the samples already taken stay stored)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from models import RunRecord, SampleRecord, Store
from planner.errors import InputError
from telemetry.collector import MAX_RATE_HZ
from telemetry.errors import TelemetryError
from telemetry.replay import ReplaySource, read_trace
from telemetry.sources import EnergySource, GpuInfo, NvmlSource


def _tool_version() -> str:
    try:
        return version("energy-planner")
    except PackageNotFoundError:
        return "source tree"


def open_source(
    replay: Path | None, gpu_indices: tuple[int, ...] | None, power_limit_w: float | None, speed: float | None, rate_hz: float
) -> EnergySource:
    """The live GPUs, or a recorded trace standing in for them; the options checked first."""
    if not 0 < rate_hz <= MAX_RATE_HZ:
        raise InputError(f"--rate {rate_hz:g} is out of range. To fix: pick 0 < rate <= {MAX_RATE_HZ:g} Hz.")
    if power_limit_w is not None and not 0 < power_limit_w < float("inf"):
        raise InputError(f"--power-limit {power_limit_w:g} is not a power limit. To fix: give the card's limit in watts, e.g. 700.")
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


def rounded(value: float | None, digits: int | None = None) -> float | None:
    """`round` that lets a missing value through (no digits: a whole number, as `round` gives)."""
    return None if value is None else round(value, digits)
