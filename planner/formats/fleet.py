"""Fleet monitoring windows (`telemetry.fleet`) as Store rows: one run per host with its GPUs'
counter samples, and one whole-request measurement per host and model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from models import Catalog, CatalogError, MeasurementRecord, RunRecord, SampleRecord
from models.records import WindowEnergy
from planner.errors import InputError
from planner.formats.run_bundle import RunBundle
from telemetry.errors import TelemetryError
from telemetry.exposition import DUMP_RECIPE, Series
from telemetry.fleet import POWER_METRIC, FleetWindow, fleet_windows, host_of

SPARSE_SCRAPES = 0.1
"""An uncertainty above this share of the energy is noted on the row."""
RUNTIME = "vllm"
"""The token counters read are vLLM's (vllm:generation_tokens_total)."""


def parse_time(text: str, option: str) -> float:
    """Unix seconds from ISO 8601 (a time without a zone is UTC) or from a plain number."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise InputError(f"{option} {text!r} is not a time. To fix: pass ISO 8601 (2026-11-20T10:00:00Z) or unix seconds.") from error
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _samples(window: FleetWindow, power: list[Series]) -> tuple[SampleRecord, ...]:
    """Each GPU's counter scrapes inside the window, with dcgm-exporter's power where scraped
    at the same instant; times count from the window's start."""
    power_at = {(s.label("gpu"), t): v for s in power for t, v in s.points}
    return tuple(
        SampleRecord(
            gpu_index=gpu.gpu_index,
            t_s=round(t - window.start_s, 3),
            energy_mj=round(value),
            power_w=power_at.get((gpu.series.label("gpu"), t)),
        )
        for gpu in window.gpus
        for t, value in gpu.series.points
        if gpu.increase.first_s <= t <= gpu.increase.last_s
    )


def fleet_bundle(window: FleetWindow, origin: str, series: list[Series], catalog: Catalog, join_labels: tuple[str, ...] = ()) -> RunBundle:
    """One run (the host's window) with its one measurement and the GPUs' counter scrapes;
    `origin` names where the series came from (the dump file or the Prometheus URL)."""
    where = f"{origin}, host {window.host or '(the dump)'}"
    try:
        model = catalog.resolve("llm", window.model)
        hardware = catalog.resolve("gpu", window.gpu_name)
    except CatalogError as error:
        raise InputError(f"{where}: {error}. To fix: add the name to data/aliases.csv.") from error
    gpus_per_replica = len(window.gpus) // window.replicas
    key = f"fleet/{origin}/{window.host or 'host'}/{_iso(window.start_s)}..{_iso(window.end_s)}"
    notes = [f"{window.counter_resets} counter reset(s): the time around them is estimated"] if window.counter_resets else []
    if window.uncertainty_j > SPARSE_SCRAPES * window.energy_j:
        share = round(100 * window.uncertainty_j / window.energy_j)
        notes.append(f"+-{share} % from scrapes sparse for a {window.duration_s:.0f} s window: widen it")
    if window.tpot_p95_s is None:
        raise InputError(
            f"{where}: no TPOT histogram ({' or '.join(('vllm:time_per_output_token_seconds', 'vllm:inter_token_latency_seconds'))}) "
            "inside the window, so the SLO cannot be checked. To fix: scrape vLLM's /metrics with its histograms."
        )
    run = RunRecord(
        source_key=key,
        source=f"{origin}: dcgm-exporter energy counters of {len(window.gpus)} {window.gpu_name} joined with vLLM token counters",
        host=window.host or None,
        gpu_name=window.gpu_name,
        runtime=RUNTIME,
        tool="planner import",
        started_at=datetime.fromtimestamp(window.start_s, tz=UTC),
        ended_at=datetime.fromtimestamp(window.end_s, tz=UTC),
    )
    per_replica = 1 / window.replicas
    measurement = MeasurementRecord(
        source=origin,
        source_key=f"{key}/{model}",
        model=model,
        hardware=hardware,
        runtime=RUNTIME,
        gpus_per_replica=gpus_per_replica,
        concurrency=max(1, round(window.running_mean * per_replica)) if window.running_mean is not None else None,
        prompt_tokens=max(1, round(window.prompt_tokens / window.requests)),
        output_tokens=max(1, round(window.tokens / window.requests)),
        energy_scope="whole_request",
        output_tok_s=window.tokens * per_replica / window.duration_s,
        tpot_ms=window.tpot_p95_s * 1000,
        tpot_stat="p95",
        ttft_ms=None if window.ttft_p95_s is None else window.ttft_p95_s * 1000,
        ttft_stat=None if window.ttft_p95_s is None else "p95",
        decode=WindowEnergy(
            window_s=window.duration_s,
            energy_j=window.energy_j * per_replica,
            ticks=min(sum(gpu.increase.first_s <= t <= gpu.increase.last_s for t, _ in gpu.series.points) for gpu in window.gpus),
            uncertainty_j=window.uncertainty_j * per_replica,
            note="; ".join(notes) or None,
        ),
        decode_tokens=round(window.tokens * per_replica),
        busy_power_w=window.energy_j * per_replica / window.duration_s,
        peak_power_w=window.peak_power_w * per_replica,
        run_key=key,
    )
    power = [s for s in series if s.name == POWER_METRIC and host_of(s, join_labels) == window.host]
    return RunBundle(run, (measurement,), _samples(window, power))


@dataclass(frozen=True)
class FleetImport:
    bundles: tuple[RunBundle, ...]
    skipped: tuple[str, ...]


def read_fleet(
    series: list[Series], origin: str, start_s: float | None, end_s: float | None, catalog: Catalog, join_labels: tuple[str, ...] = ()
) -> FleetImport:
    """Every host's bundle over [start_s, end_s] (default: the span the series cover); any
    host that cannot be read fails the whole import, so nothing is half-stored."""
    if not series:
        raise InputError(f"{origin} holds no sample. To fix: {DUMP_RECIPE}.")
    first_s = min(s.points[0][0] for s in series if s.points)
    last_s = max(s.points[-1][0] for s in series if s.points)
    try:
        report = fleet_windows(series, first_s if start_s is None else start_s, last_s if end_s is None else end_s, join_labels)
    except TelemetryError as error:
        raise InputError(f"{origin}: {error}") from error
    return FleetImport(tuple(fleet_bundle(window, origin, series, catalog, join_labels) for window in report.windows), report.skipped)
