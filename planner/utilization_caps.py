"""`planner caps`: how busy each candidate's replicas may run under real traffic, found by
simulation instead of the scenario's blanket `max_utilization`.

For a candidate (a workload on one configuration at one batch), one replica is simulated
(curves of its measured sweep, the batch as its limit, the catalog's KV cache) serving the
workload's request trace time-compressed to u times the candidate's measured tok/s. The cap is
the highest u at which the workload's SLO statistic still holds (bisection to `TOLERANCE`):
bursts and long prompts lower it, smooth traffic of short requests raises it. One replica is
the strict case: a fleet of many averages its bursts out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pandas as pd

from models import Store, load_catalog
from optimizer.candidates import Candidate, CandidateSet, WorkloadSpec
from optimizer.operating_point import OperatingPoint
from optimizer.problem import PlanProblem
from planner.errors import InputError
from planner.formats.placement import TraceRef
from planner.formats.request_trace import check_fits_the_model, read_request_trace
from planner.formats.scenario import load_scenario
from planner.kv_context import decode_windows, kv_cost
from planner.model_check import sweep_key, sweeps
from planner.planning import build_problem
from planner.simulating import latency_table, sweep_replica
from planner.stored_points import usable_operating_points
from simulator.performance import KvCost
from simulator.serving import ReplicaModel, ReplicaSpec, simulate
from simulator.traffic import Trace, scaled_to

LOWEST = 0.05
TOLERANCE = 0.01
SIMULATED_S = 120.0
"""Seconds of scaled traffic each probe replays (from the trace's start)."""


@dataclass(frozen=True)
class Cap:
    workload: str
    candidate: str
    configuration: str
    batch: int
    source: str
    """The run the candidate was measured in (one configuration can be measured in several)."""
    cap: float | None
    why_none: str = ""
    """Where there is no cap: the SLO statistic is missed even at LOWEST, or no sweep to simulate."""


def meets_slo(point: OperatingPoint, sweep: list[OperatingPoint], workload: WorkloadSpec, trace: Trace, utilization: float, kv: KvCost | None) -> bool:
    """Whether one replica of `point`, on curves fitted to `sweep` and its steps following the
    context held by `kv`, meets the SLO statistic at this load."""
    return _meets(sweep_replica(point, sweep, load_catalog(), [], kv), point, workload, trace, utilization)


def _meets(model: ReplicaModel, point: OperatingPoint, workload: WorkloadSpec, trace: Trace, utilization: float) -> bool:
    scaled = scaled_to(trace, utilization * point.tok_s)
    kept = scaled.arrival_s <= SIMULATED_S
    if kept.sum() < 2:
        kept[:2] = True
    probe = Trace(scaled.arrival_s[kept], scaled.prompt_tokens[kept], scaled.output_tokens[kept])
    result = simulate([ReplicaSpec(model, {workload.name: 1.0})], {workload.name: probe})
    return bool(latency_table(result, {workload.name: workload})["meets SLO"].iloc[0])


_CAPS: dict[tuple[object, ...], float | None] = {}
"""Caps found in this process, by everything a cap depends on (the dashboard and the API ask again)."""


def _trace_digest(trace: Trace) -> str:
    digest = hashlib.sha256()
    for column in (trace.arrival_s, trace.prompt_tokens, trace.output_tokens):
        digest.update(column.tobytes())
    return digest.hexdigest()


def candidate_cap(candidate: Candidate, sweep: list[OperatingPoint], workload: WorkloadSpec, trace: Trace, kv: KvCost | None) -> float | None:
    """The highest utilisation in [LOWEST, 1] at which one replica meets the SLO statistic,
    cached per candidate (its point, sweep and KV cost), SLO and trace."""
    slo = (workload.name, workload.ttft_slo_ms, workload.tpot_slo_ms, workload.slo_statistic)
    key = (candidate.point, tuple(sorted(sweep, key=lambda p: (p.load, p.measurement_id))), kv, slo, _trace_digest(trace))
    if key not in _CAPS:
        _CAPS[key] = _bisected(candidate, sweep, workload, trace, kv)
    return _CAPS[key]


def _bisected(candidate: Candidate, sweep: list[OperatingPoint], workload: WorkloadSpec, trace: Trace, kv: KvCost | None) -> float | None:
    point = candidate.point
    # a point moved to other lengths steps on its measurement's curves, the KV cost following the trace's context
    model = sweep_replica(point.measurement, sweep, load_catalog(), [], kv)  # fitted once, probed at every load
    if _meets(model, point, workload, trace, 1.0):
        return 1.0
    if not _meets(model, point, workload, trace, LOWEST):
        return None
    low, high = LOWEST, 1.0
    while high - low > TOLERANCE:
        middle = (low + high) / 2
        if _meets(model, point, workload, trace, middle):
            low = middle
        else:
            high = middle
    return round(low, 3)


def read_traces(trace_files: Mapping[str, Path], workloads: Mapping[str, WorkloadSpec]) -> dict[str, Trace]:
    """Each workload's trace, checked against its model's context."""
    catalog = load_catalog()
    unknown = sorted(set(trace_files) - set(workloads))
    if unknown:
        raise InputError(f"--trace names workload {unknown[0]}, not in the scenario. To fix: use {', '.join(workloads)}.")
    traces = {}
    for name, path in trace_files.items():
        traces[name] = read_request_trace(path)
        check_fits_the_model(traces[name], catalog.llm(workloads[name].model), str(path))
    return traces


def caps_for(
    candidates: Sequence[Candidate],
    workloads: Mapping[str, WorkloadSpec],
    points: Sequence[OperatingPoint],
    traces: Mapping[str, Trace],
    cap_scales: Mapping[str, float] | None = None,
) -> list[Cap]:
    """The cap of every candidate whose workload has a trace, its steps following the context its
    trace's requests hold (planner/kv_context.py), times its workload's share in `cap_scales`
    (1 where absent; `planner plan --confirm` lowers it)."""
    catalog = load_catalog()
    scales = dict(cap_scales or {})
    by_sweep, windows = sweeps(list(points)), decode_windows(points)
    found = []
    for candidate in candidates:
        if candidate.workload not in traces:
            continue
        point = candidate.point
        sweep = by_sweep.get(sweep_key(point.measurement), [])
        where = (candidate.workload, candidate.id, f"{point.hardware}/{point.runtime}/g{candidate.gpus_per_replica}", point.load, point.source)
        if len({p.load for p in sweep}) < 2:
            found.append(Cap(*where, None, "measured at one batch only: no curves to simulate"))
            continue
        cap = candidate_cap(candidate, sweep, workloads[candidate.workload], traces[candidate.workload], kv_cost(point.measurement, windows, catalog, []))
        if cap is None:
            found.append(Cap(*where, None, f"SLO missed even at {LOWEST:.0%} load"))
        else:
            found.append(Cap(*where, cap * scales.get(candidate.workload, 1.0)))
    return found


def caps(scenario_path: Path, store: Store, trace_files: Mapping[str, Path]) -> tuple[list[Cap], float | Literal["auto"]]:
    """Every candidate's cap under its workload's trace, and the scenario's blanket cap."""
    catalog = load_catalog()
    scenario, _ = load_scenario(scenario_path, catalog)
    points = usable_operating_points(store)
    problem, _ = build_problem(scenario, points, catalog, caps_from_traces=True)
    workloads = {w.name: w for w in problem.workloads}
    if not trace_files and scenario.max_utilization == "auto":
        trace_files = scenario.traces
    return caps_for(problem.candidates, workloads, points, read_traces(trace_files, workloads)), scenario.max_utilization


def capped(
    problem: PlanProblem,
    candidate_set: CandidateSet,
    points: Sequence[OperatingPoint],
    trace_files: Mapping[str, Path],
    cap_scales: Mapping[str, float] | None = None,
) -> tuple[PlanProblem, CandidateSet, dict[str, TraceRef]]:
    """The problem with each candidate held to its own cap under its workload's trace, times the
    workload's share in `cap_scales` (1 where absent); a candidate that meets its SLO statistic at
    no load is dropped (counted among the pruned)."""
    scales = dict(cap_scales or {})
    workloads = {w.name: w for w in problem.workloads}
    missing = [name for name in workloads if name not in trace_files]
    if missing:
        raise InputError(f"no --trace for workload {missing[0]}: caps from traffic need one for every workload. To fix: add --trace {missing[0]}=FILE.")
    found = caps_for(problem.candidates, workloads, points, read_traces(trace_files, workloads), scales)
    cap_of = {(cap.workload, cap.candidate): cap.cap for cap in found}
    kept = [replace(c, max_utilization=cap_of[(c.workload, c.id)]) for c in problem.candidates if cap_of[(c.workload, c.id)] is not None]
    unserved = {name: "no candidate meets its SLO statistic under its trace at any load" for name in workloads if not any(c.workload == name for c in kept)}
    pruned = dict(candidate_set.pruned)
    if len(kept) < len(problem.candidates):
        pruned["SLO missed under the trace at any load"] = len(problem.candidates) - len(kept)
    refs = {name: TraceRef(path=str(path), sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(), cap_scale=scales.get(name, 1.0))
            for name, path in trace_files.items()}  # fmt: skip
    return problem.restricted(kept), CandidateSet(tuple(kept), pruned, {**candidate_set.unserved, **unserved}), refs


def caps_table(found: list[Cap], blanket: float | Literal["auto"]) -> pd.DataFrame:
    """Each cap against the blanket one: where it was unsafe, where it left capacity unused."""
    rows = []
    for cap in found:
        if cap.cap is None:
            verdict = cap.why_none
        elif blanket == "auto":
            verdict = "the scenario plans at this cap (max_utilization: auto)"
        elif cap.cap < blanket:
            verdict = f"{blanket:g} unsafe: the SLO statistic fails above {cap.cap:.2f}"
        else:
            verdict = f"{blanket:g} leaves {cap.cap / blanket - 1:.0%} more load unplanned"
        rows.append({"workload": cap.workload, "configuration": cap.configuration, "batch": cap.batch, "measured in": cap.source,
                     "cap": cap.cap, "against the blanket cap": verdict})  # fmt: skip
    return pd.DataFrame(rows).sort_values(["workload", "configuration", "batch", "measured in"], ignore_index=True) if rows else pd.DataFrame(rows)
