"""`planner simulate`: a placement replayed against request traces on the serving simulator.

The placement is validated first (a simulation of a plan that does not hold would be read as if
it did). Each replica group becomes that many simulated replicas: batch curves fitted to the
measured sweep of its configuration (simulator/performance.py), the batch it was planned at as
its limit, the KV cache the catalog's GPU memory leaves beside the weights, and the prefill rate
its sweep implies (cycle time less the decode steps; the catalog's compute roofline where the
sweep cannot say). Each workload's trace is time-compressed to its planned demand.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from models import Catalog, Store, load_catalog
from optimizer.candidates import WorkloadSpec, candidate_id
from optimizer.operating_point import OperatingPoint
from planner.errors import InputError
from planner.formats.placement import Placement, PlacementRow, read_placement, write_text_atomically
from planner.formats.request_trace import check_fits_the_model, read_request_trace
from planner.formats.scenario import load_scenario
from planner.kv_context import ConfigurationKey, decode_windows, kv_capacity_tokens, kv_cost
from planner.model_check import SweepKey, sweep_key, sweeps
from planner.planning import planning_points, workload_specs
from planner.stored_points import usable_operating_points
from planner.validate import check_placement
from simulator.parallel import simulate_apart
from simulator.performance import BatchCurves, BatchPoint, KvCost, fit
from simulator.serving import ReplicaModel, ReplicaSpec, RouterPolicy, SimulationResult
from simulator.traffic import Trace, scaled_to

PROGRESS_MIN_REQUESTS = 50_000
"""Runs with fewer requests end before a progress bar tells anything."""
PREFILL_COMPUTE_EFFICIENCY = 0.5
"""Share of the datasheet BF16 TFLOP/s prefill reaches, where the sweep gives no prefill time."""


@dataclass(frozen=True)
class Simulation:
    result: SimulationResult
    table: pd.DataFrame
    """Per workload: requests, TTFT and TPOT percentiles, SLO attainment."""
    energy: pd.DataFrame
    """Planned against simulated: output tok/s and IT joules per token."""
    replicas: pd.DataFrame
    """Per simulated replica: where, what, how busy, its mean batch and its energy."""
    notes: tuple[str, ...]
    sites: pd.DataFrame
    """Per site: its budget against the simulated facility power's highest second, mean and energy."""
    site_power: pd.DataFrame
    """Facility kW per site and second of the simulated span (PUE included, idle replicas at idle power)."""

    @property
    def over_budget(self) -> list[str]:
        return list(self.sites.loc[~self.sites["within budget"], "site"])

    def to_json(self, path: str | Path) -> None:
        """The three tables and the notes as one JSON file, written whole or not at all."""
        content = {
            "workloads": self.table.to_dict(orient="records"),
            "energy": self.energy.to_dict(orient="records"),
            "replicas": self.replicas.to_dict(orient="records"),
            "sites": self.sites.to_dict(orient="records"),
            "site_power_kw": {site: list(frame["facility kW"]) for site, frame in self.site_power.groupby("site")},
            "horizon_s": self.result.horizon_s,
            "notes": list(self.notes),
        }
        write_text_atomically(json.dumps(content, indent=2, default=float) + "\n", Path(path))


def _configuration_model(row: PlacementRow, points: Mapping[str, OperatingPoint], by_sweep: Mapping[SweepKey, list[OperatingPoint]],
                         windows: Mapping[ConfigurationKey, list[OperatingPoint]], catalog: Catalog, notes: list[str]) -> ReplicaModel:  # fmt: skip
    """The simulated replica of a placement row, from the sweep of the candidate serving most of it
    and the decode windows of its configuration at every prompt length."""
    main = max(row.serves, key=lambda share: share.tokens_per_s)
    point = points[main.candidate].measurement
    sweep = by_sweep.get(sweep_key(point), [])
    if len({p.load for p in sweep}) < 2:
        raise InputError(
            f"{row.configuration} at {row.site}: the Store has this configuration at one batch size only ({point.source}), "
            "so no batch curve can be fitted. To fix: measure it at two or more batch sizes (`planner bench --concurrency`)."
        )
    return sweep_replica(point, sweep, catalog, notes, kv_cost(point, windows, catalog, notes))


def sweep_replica(point: OperatingPoint, fitted_on: Sequence[OperatingPoint], catalog: Catalog, notes: list[str], kv: KvCost | None) -> ReplicaModel:
    """A replica of `point`'s configuration at its batch, stepped by curves fitted to `fitted_on`
    (its sweep; `planner model-check --simulate` leaves the point itself out), its decode steps
    following the context held by `kv` (None: the curves' own context, whatever is held)."""
    curves = fit([BatchPoint(p.load, p.tok_s, p.tpot_ms, p.power_w) for p in fitted_on], point.output_tokens)
    gpu, llm = catalog.gpus[point.hardware], catalog.llm(point.model)
    kv_tokens = kv_capacity_tokens(llm, gpu, point.gpus_per_replica)
    if kv_tokens < 1:
        raise InputError(f"{point.model}: its weights leave no KV cache on {point.gpus_per_replica} x {gpu.name}.")
    return ReplicaModel(
        curves=curves,
        prefill_s_per_token=_prefill_s_per_token(curves, point, catalog, notes),
        max_batch=point.load,
        kv_capacity_tokens=kv_tokens,
        idle_power_w=point.gpus_per_replica * gpu.idle_w,
        kv=kv,
    )


def _prefill_s_per_token(curves: BatchCurves, point: OperatingPoint, catalog: Catalog, notes: list[str]) -> float:
    if point.prompt_tokens is not None:
        prefill_s = curves.cycle_s.at(point.load) - point.output_tokens * curves.tpot(point.load) / 1000
        if prefill_s > 0:
            return prefill_s / (point.load * point.prompt_tokens)
    gpu, llm = catalog.gpus[point.hardware], catalog.llm(point.model)
    if gpu.bf16_dense_tflops is None:
        raise InputError(
            f"{point.hardware}/{point.runtime} {point.model}: the sweep does not resolve prefill time and the catalog has no tensor peak "
            f"for {gpu.name} to bound it. To fix: measure its phases apart (`planner bench`), or simulate without this configuration."
        )
    notes.append(f"{point.hardware}/{point.runtime} {point.model}: prefill time from the compute roofline (the sweep does not resolve it)")
    return 2 * llm.active_params_b * 1e9 / (point.gpus_per_replica * gpu.bf16_dense_tflops * 1e12 * PREFILL_COMPUTE_EFFICIENCY)


def _traces(placement: Placement, trace_files: Mapping[str, str | Path], duration_s: float | None, catalog: Catalog) -> dict[str, Trace]:
    """Each workload's trace, checked against its model's context and scaled to its demand."""
    demand = {w.name: w.demand_tok_s for w in placement.workloads}
    models = {w.name: w.model for w in placement.workloads}
    unknown = sorted(set(trace_files) - set(demand))
    if unknown:
        raise InputError(f"--trace names workload(s) {', '.join(unknown)} not in the placement. To fix: use {', '.join(demand)}.")
    missing = sorted(set(demand) - set(trace_files))
    if missing:
        raise InputError(f"no --trace for workload(s) {', '.join(missing)}. To fix: add --trace NAME=FILE for each.")
    traces = {}
    for name, path in trace_files.items():
        recorded = read_request_trace(Path(path))
        check_fits_the_model(recorded, catalog.llm(models[name]), str(path))
        trace = scaled_to(recorded, demand[name])
        if duration_s is not None:
            kept = trace.arrival_s <= duration_s
            trace = Trace(trace.arrival_s[kept], trace.prompt_tokens[kept], trace.output_tokens[kept])
        traces[name] = trace
    return traces


def simulate_placement(
    placement_path: str | Path,
    scenario_path: str | Path,
    store: Store,
    trace_files: Mapping[str, str | Path],
    policy: RouterPolicy = "least_outstanding",
    seed: int = 0,
    duration_s: float | None = None,
    chunked_prefill_tokens: int | None = None,
    progress: bool = False,
) -> Simulation:
    if chunked_prefill_tokens is not None and chunked_prefill_tokens < 1:
        raise InputError(f"--chunked-prefill {chunked_prefill_tokens} must be a positive token count. To fix: e.g. 2048.")
    if duration_s is not None and not duration_s > 0:
        raise InputError(f"--duration {duration_s} must be positive. To fix: give seconds of traffic, e.g. --duration 300.")
    placement_path, scenario_path = Path(placement_path), Path(scenario_path)
    placement = read_placement(placement_path)
    problems = check_placement(placement, scenario_path, store, {name: Path(path) for name, path in trace_files.items()})
    if problems:
        raise InputError(f"{placement_path} does not validate against {scenario_path}: {problems[0]}. To fix: plan it again.")
    catalog = load_catalog()
    scenario, _ = load_scenario(scenario_path, catalog)
    usable = usable_operating_points(store)
    planned = planning_points(scenario, workload_specs(scenario), usable, catalog)
    points, by_sweep, windows = {candidate_id(p): p for p in planned}, sweeps(usable), decode_windows(usable)
    notes: list[str] = []
    replicas: list[ReplicaSpec] = []
    where: list[dict[str, object]] = []
    for row in placement.placements:
        model = replace(_configuration_model(row, points, by_sweep, windows, catalog, notes), prefill_tokens_per_step=chunked_prefill_tokens)
        serves = {share.workload: share.tokens_per_s / row.replicas for share in row.serves if share.tokens_per_s > 0}
        replicas.extend(ReplicaSpec(model, serves) for _ in range(row.replicas))
        where.extend({"site": row.site, "configuration": row.configuration, "serves": ", ".join(serves)} for _ in range(row.replicas))
    traces = _traces(placement, trace_files, duration_s, catalog)
    try:
        total = sum(len(trace.arrival_s) for trace in traces.values())
        with tqdm(total=total, unit="request", desc="simulate", file=sys.stderr, disable=not progress or total < PROGRESS_MIN_REQUESTS) as bar:
            result = simulate_apart(replicas, traces, policy, seed, progress=bar.update)
    except ValueError as error:
        raise InputError(f"the traces cannot be served by this placement: {error}. To fix: drop or truncate those requests.") from error
    slo = {w.name: w for w in workload_specs(scenario)}
    per_replica = pd.DataFrame(where).assign(
        busy=np.round(result.busy_s / result.horizon_s, 3) if result.horizon_s else 0.0,
        mean_batch=np.round(result.mean_batch, 1),
        wh=np.round(result.energy_j / 3600, 3),
    )
    sites, site_power = _site_tables(result, placement, [str(w["site"]) for w in where])
    latency, energy = latency_table(result, slo), _energy_table(result, placement)
    return Simulation(result, latency, energy, per_replica, tuple(dict.fromkeys(notes)), sites, site_power)


SITE_POWER_RESOLUTION_S = 1.0


def _site_tables(result: SimulationResult, placement: Placement, replica_sites: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each site's facility power by the second against its budget. The plan holds the budget at
    the measured peak power of every replica at once; the simulation shows what the traffic draws."""
    names = sorted(set(replica_sites))
    echoes = {site.name: site for site in placement.sites}
    power_w = result.power_w(np.asarray([names.index(site) for site in replica_sites], dtype=np.int64), SITE_POWER_RESOLUTION_S)
    rows, series = [], []
    for index, name in enumerate(names):
        facility_kw = power_w[index] * echoes[name].pue / 1000
        budget_kw = echoes[name].power_budget_kw
        rows.append({"site": name, "budget kW": budget_kw, "peak kW (1 s)": round(float(facility_kw.max()), 2),
                     "mean kW": round(float(facility_kw.mean()), 2), "kWh": round(float(facility_kw.sum()) * SITE_POWER_RESOLUTION_S / 3600, 3),
                     "within budget": bool(facility_kw.max() <= budget_kw * (1 + 1e-9))})  # fmt: skip
        series.append(pd.DataFrame({"second": np.arange(len(facility_kw)) * SITE_POWER_RESOLUTION_S, "site": name, "facility kW": facility_kw}))
    return pd.DataFrame(rows), pd.concat(series, ignore_index=True)


STATISTICS = {"mean": None, "p50": 50, "p90": 90, "p95": 95, "p99": 99}


def _statistic(values: np.ndarray, name: str) -> float:
    q = STATISTICS[name]
    return float(np.nanmean(values) if q is None else np.nanpercentile(values, q))


def slo_margin(result: SimulationResult, workload: WorkloadSpec) -> float:
    """The least of bound / simulated statistic over the workload's SLO bounds (below 1: missed)."""
    chosen = result.workload == workload.name
    margins = [bound / _statistic(values[chosen] * 1000, workload.slo_statistic)
               for values, bound in ((result.ttft_s, workload.ttft_slo_ms), (result.tpot_s, workload.tpot_slo_ms)) if bound is not None]  # fmt: skip
    return min(margins, default=float("inf"))


def latency_table(result: SimulationResult, slo: Mapping[str, WorkloadSpec]) -> pd.DataFrame:
    """Per workload: percentiles, the SLO's own statistic against its bound, and the share of
    requests within both bounds."""
    rows = []
    for name in sorted(set(result.workload)):
        chosen = result.workload == name
        target = slo[name]
        ttft_ms, tpot_ms = result.ttft_s[chosen] * 1000, result.tpot_s[chosen] * 1000
        within = np.ones(int(chosen.sum()), dtype=bool)
        verdicts, meets = [], True
        for label, values, bound in (("TTFT", ttft_ms, target.ttft_slo_ms), ("TPOT", tpot_ms, target.tpot_slo_ms)):
            if bound is None:
                continue
            within &= np.nan_to_num(values, nan=0.0) <= bound
            measured = _statistic(values, target.slo_statistic)
            meets = meets and measured <= bound
            verdicts.append(f"{label} {target.slo_statistic} {measured:.1f} {'<=' if measured <= bound else '>'} {bound:g}")
        row: dict[str, object] = {"workload": name, "requests": int(chosen.sum())}
        for q in (50, 95, 99):
            row[f"TTFT p{q} ms"] = round(float(np.nanpercentile(ttft_ms, q)), 1)
        for q in (50, 95, 99):
            row[f"TPOT p{q} ms"] = round(float(np.nanpercentile(tpot_ms, q)), 2)
        row["SLO (ms)"] = "; ".join(verdicts)
        row["meets SLO"] = meets
        row["requests within"] = f"{within.mean():.1%}"
        row["preempted"] = int(result.preemptions[chosen].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _energy_table(result: SimulationResult, placement: Placement) -> pd.DataFrame:
    """The whole simulated span (arrivals and the drain after the last) against the plan's steady state."""
    summary = placement.summary
    assert summary is not None
    tokens = int(result.output_tokens.sum())
    simulated_tok_s = tokens / result.horizon_s if result.horizon_s else float("nan")
    simulated_j = float(result.energy_j.sum()) / tokens if tokens else float("nan")
    return pd.DataFrame(
        [
            {"": "planned (steady state at peak demand)", "output tok/s": round(summary.tokens_per_s), "IT mJ/token": round(summary.it_joules_per_token * 1000, 1)},
            {"": "simulated (trace scaled to it)", "output tok/s": round(simulated_tok_s), "IT mJ/token": round(simulated_j * 1000, 1)},
        ]
    )  # fmt: skip
