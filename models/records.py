"""Values that flow into the Store from telemetry and the importers (frozen, unit-suffixed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

LatencyStatistic = Literal["mean", "p50", "p90", "p95", "p99"]
EnergyScope = Literal["phases", "whole_request", "decode_only"]
"""How a measurement's energy was taken:
- `phases`: prefill and decode windows measured separately (prefill_* and decode_* columns);
- `whole_request`: one window over whole requests, prefill included (held in the decode_* columns);
- `decode_only`: decode alone; the prefill cost is not known."""


@dataclass(frozen=True)
class RunRecord:
    """One benchmark or collection session on one host: the card's state as it was."""

    source_key: str
    source: str
    host: str | None = None
    gpu_name: str | None = None
    driver_version: str | None = None
    power_limit_w: float | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    tool: str | None = None
    tool_version: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    notes: str | None = None


@dataclass(frozen=True)
class WindowEnergy:
    """Energy of one measurement window as the counter gave it, and how far to trust it.

    `energy_j` is None when the window cannot be trusted (too few counter ticks, 0 J, or a power
    the card cannot draw); `note` then says why, and the raw reading stays in it.
    """

    window_s: float
    energy_j: float | None
    ticks: int
    uncertainty_j: float | None
    note: str | None = None

    @property
    def usable(self) -> bool:
        return self.energy_j is not None


@dataclass(frozen=True)
class MeasurementRecord:
    """One operating point of one model on one hardware configuration.

    Phase windows hold totals over the window (`*_j` over `*_window_s` producing `*_tokens`);
    `prefill_s` and `tpot_ms` are the time of one batch's prefill and of one decode step.
    """

    source: str
    source_key: str
    model: str
    hardware: str
    runtime: str
    gpus_per_replica: int
    prompt_tokens: int | None
    """None for published whole-request data that gives a task profile but no prompt length."""
    output_tokens: int
    energy_scope: EnergyScope
    output_tok_s: float
    tpot_ms: float
    tpot_stat: LatencyStatistic
    decode: WindowEnergy
    decode_tokens: int
    batch: int | None = None
    concurrency: int | None = None
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    runtime_version: str | None = None
    workload_profile: str | None = None
    ttft_ms: float | None = None
    ttft_stat: LatencyStatistic | None = None
    prefill_s: float | None = None
    prefill: WindowEnergy | None = None
    prefill_tokens: int | None = None
    busy_power_w: float | None = None
    peak_power_w: float | None = None
    idle_power_w: float | None = None
    gpu_memory_peak_gb: float | None = None
    run_key: str | None = None


@dataclass(frozen=True)
class SampleRecord:
    """One reading of one GPU's counters; `t_s` counts from the run's start."""

    gpu_index: int
    t_s: float
    energy_mj: int | None
    power_w: float | None = None
    power_instant_w: float | None = None
    sm_mhz: float | None = None
    mem_mhz: float | None = None
    temp_c: float | None = None
    util_gpu_pct: float | None = None
    util_mem_pct: float | None = None
    label: str | None = None
