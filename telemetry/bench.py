"""The benchmark driver: a concurrency sweep, one energy window per level, one measurement each.

A serving engine interleaves prefill and decode across requests, so a level's window is
whole-request energy over the tokens that arrived inside it. A workload that can run prefill
alone (`PhasedWorkload`: the built-in torch decoder) gets a prefill window and a decode window
per batch size instead, stored with energy scope `phases`. The window lasts at least
`min_window_s` (10 s by default: +-1 % from the counter's 100 ms tick); a level whose window
came out shorter, lost a GPU, saw failed requests or produced no token is stored flagged, or
not at all, and says why.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from models.records import MeasurementRecord, WindowEnergy
from telemetry.collector import Collector, OpenWindow
from telemetry.loadgen import LevelRun, LoadGeneratorError, PhasedWorkload, PrefillRun, WindowHooks, Workload, check_concurrency
from telemetry.windows import WindowMeasurement

DEFAULT_WARMUP_S = 5.0
DEFAULT_BENCH_WINDOW_S = 10.0


@dataclass(frozen=True)
class BenchSettings:
    model: str
    hardware: str
    runtime: str
    concurrency: tuple[int, ...]
    source: str
    """Names the run: every measurement's `source`, and its key prefix."""
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    gpus_per_replica: int = 1
    runtime_version: str | None = None
    warmup_s: float = DEFAULT_WARMUP_S
    window_s: float = DEFAULT_BENCH_WINDOW_S

    def __post_init__(self) -> None:
        check_concurrency(list(self.concurrency))
        if self.window_s <= 0 or self.warmup_s < 0:
            raise LoadGeneratorError("the window must last > 0 s and the warm-up >= 0 s. To fix: raise them.")


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


@dataclass(frozen=True)
class LevelOutcome:
    concurrency: int
    """Requests in flight, or the batch size of a phased workload."""
    window: WindowMeasurement | None
    """The whole-request window, or the decode window of a phased workload."""
    run: LevelRun | None
    measurement: MeasurementRecord | None
    problems: tuple[str, ...]
    prefill: PrefillRun | None = None
    prefill_window: WindowMeasurement | None = None

    @property
    def output_tok_s(self) -> float | None:
        if self.window is None or self.run is None or self.window.duration_s <= 0:
            return None
        return self.run.window_tokens / self.window.duration_s

    @property
    def tpot_p95_ms(self) -> float | None:
        gaps = [gap for request in (self.run.requests if self.run else ()) for gap in request.inter_token_s]
        p95 = _percentile(gaps, 0.95)
        return None if p95 is None else p95 * 1000

    @property
    def ttft_ms(self) -> float | None:
        """p95 of the streamed first tokens; a phased workload's batch prefill time."""
        if self.prefill is not None:
            return self.prefill.seconds_per_prefill * 1000
        firsts = [r.ttft_s for r in (self.run.requests if self.run else ()) if r.ttft_s is not None and r.ok]
        p95 = _percentile(firsts, 0.95)
        return None if p95 is None else p95 * 1000

    @property
    def j_per_token(self) -> float | None:
        if self.window is None or self.run is None or self.window.energy_j is None or not self.run.window_tokens:
            return None
        return self.window.energy_j / self.run.window_tokens


def _window_energy(window: WindowMeasurement, problems: list[str]) -> WindowEnergy:
    return WindowEnergy(
        window_s=window.duration_s,
        energy_j=window.energy_j,
        ticks=min((gpu.energy.ticks for gpu in window.gpus), default=0),
        uncertainty_j=window.uncertainty_j,
        note="; ".join([*window.notes, *problems]) or None,
    )


def _phases(outcome: LevelOutcome, memory_peak_gb: float | None) -> dict[str, Any]:
    """The columns that a separate prefill window adds to a decode-only measurement."""
    prefill, window = outcome.prefill, outcome.prefill_window
    assert prefill is not None and window is not None
    peaks = [w.peak_power_w for w in (window, outcome.window) if w is not None and w.peak_power_w is not None]
    return {
        "energy_scope": "phases",
        "batch": outcome.concurrency,
        "concurrency": None,
        "prompt_tokens": prefill.prompt_tokens,
        "prefill": _window_energy(window, []),
        "prefill_tokens": prefill.tokens,
        "prefill_s": prefill.seconds_per_prefill,
        "ttft_ms": prefill.seconds_per_prefill * 1000,
        "ttft_stat": "mean",
        "peak_power_w": max(peaks, default=None),
        "gpu_memory_peak_gb": memory_peak_gb,
    }


def _measurement(
    settings: BenchSettings, outcome: LevelOutcome, problems: list[str], memory_peak_gb: float | None = None
) -> MeasurementRecord | None:
    window, run = outcome.window, outcome.run
    assert window is not None and run is not None
    tokens = run.window_tokens
    if tokens <= 0:
        problems.append("no token arrived inside the window: J/token is undefined, nothing stored")
        return None
    tpot_ms = outcome.tpot_p95_ms
    if tpot_ms is None:  # a callable workload reports totals only: one token's share of a call
        per_token_p95_s = _percentile([(r.e2e_s or 0) / r.output_tokens for r in run.completed if r.output_tokens], 0.95)
        tpot_ms = per_token_p95_s * 1000 if per_token_p95_s is not None else window.duration_s / tokens * 1000
    completed = run.completed
    prompts = [r.prompt_tokens for r in completed if r.prompt_tokens is not None]
    outputs = [r.output_tokens for r in completed]
    phased = outcome.prefill is not None
    record = MeasurementRecord(
        source=settings.source,
        source_key=f"{settings.source}/{'b' if phased else 'c'}{outcome.concurrency}",
        model=settings.model,
        hardware=settings.hardware,
        runtime=settings.runtime,
        runtime_version=settings.runtime_version,
        gpus_per_replica=settings.gpus_per_replica,
        concurrency=outcome.concurrency,
        prompt_tokens=round(statistics.fmean(prompts)) if prompts else settings.prompt_tokens,
        output_tokens=round(statistics.fmean(outputs)) if outputs else (settings.output_tokens or round(tokens)),
        energy_scope="whole_request",
        output_tok_s=tokens / window.duration_s,
        tpot_ms=tpot_ms,
        tpot_stat="p95",
        ttft_ms=outcome.ttft_ms,
        ttft_stat="p95" if outcome.ttft_ms is not None else None,
        decode=_window_energy(window, problems),
        decode_tokens=round(tokens),
        busy_power_w=window.mean_power_w,
        peak_power_w=window.peak_power_w,
        run_key=settings.source,
    )
    if phased:  # every pass runs output_tokens steps; the window cuts its last one short
        return replace(record, output_tokens=settings.output_tokens or record.output_tokens, **_phases(outcome, memory_peak_gb))
    return record


def run_level(collector: Collector, workload: Workload, settings: BenchSettings, concurrency: int) -> LevelOutcome:
    opened: list[OpenWindow] = []
    windows: list[WindowMeasurement] = []

    def hooks(label: str) -> WindowHooks:
        def begin() -> None:
            opened.append(collector.begin_window(f"{settings.source}/{label}"))

        def end() -> None:
            windows.append(collector.end_window(opened.pop()))

        return WindowHooks(begin, end)

    phased = workload if isinstance(workload, PhasedWorkload) else None
    prefill: PrefillRun | None = None
    try:
        if phased is not None:
            prefill = phased.run_prefill(concurrency, settings.window_s, hooks(f"b{concurrency}/prefill"))
        label = f"b{concurrency}/decode" if phased is not None else f"c{concurrency}"
        run = workload.run_level(concurrency, settings.warmup_s, settings.window_s, hooks(label))
    except LoadGeneratorError as error:
        if opened:
            windows.append(collector.end_window(opened.pop()))
        return LevelOutcome(concurrency, windows[-1] if windows else None, None, None, (str(error),))
    problems: list[str] = []
    failures = run.failures
    if failures:
        problems.append(f"{len(failures)} of {len(run.requests)} request(s) failed, e.g. {failures[0]}")
    outcome = LevelOutcome(concurrency, windows[-1], run, None, (), prefill, windows[0] if phased is not None else None)
    memory_peak_gb = phased.memory_peak_gb() if phased is not None else None
    measurement = _measurement(settings, outcome, problems, memory_peak_gb)  # appends to problems
    return replace(outcome, measurement=measurement, problems=tuple(problems))


def run_bench(
    collector: Collector,
    workload: Workload,
    settings: BenchSettings,
    on_level: Callable[[LevelOutcome], None] | None = None,
) -> list[LevelOutcome]:
    """Sweep the levels in order; a level that fails is reported and the sweep goes on."""
    outcomes = []
    for concurrency in settings.concurrency:
        outcome = run_level(collector, workload, settings, concurrency)
        outcomes.append(outcome)
        if on_level is not None:
            on_level(outcome)
    return outcomes
