"""The schedule file's content and the terminal's view of it, built from a Schedule's records:
each interval's rows (as in a placement file), its figures, and the horizon against the baselines."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from optimizer.horizon import HorizonFigures, IntervalFigures
from optimizer.problem import PlanProblem, ReplicaGroup
from planner.formats.placement import ScenarioRef
from planner.formats.schedule_file import BaselineTotals, IntervalEntry, Rules, ScheduleFile, SeriesRef, SitePower, Totals
from planner.placement_content import placement_rows

if TYPE_CHECKING:
    from planner.scheduling import Schedule

NOTES = (
    "Each interval is charged as a plan is: every running replica at its operating point's power whatever its load.",
    "A start loads the model's weights at rules.load_gb_per_s with the GPUs at idle power; the first interval's replicas start "
    "free unless the schedule was made from today's placement (current).",
)


def series_ref(path: Path) -> SeriesRef:
    return SeriesRef(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def totals(figures: HorizonFigures) -> Totals:
    return Totals(
        energy_kwh=figures.energy_kwh,
        load_scaled_energy_kwh=figures.load_scaled_energy_kwh,
        usd=figures.usd,
        kg_co2=figures.kg_co2,
        tokens=figures.tokens,
        joules_per_token=figures.joules_per_token,
        starts=figures.starts,
    )


def interval_entry(start: str, problem: PlanProblem, groups: Sequence[ReplicaGroup], figures: IntervalFigures, interval_h: float) -> IntervalEntry:
    """One interval of the file, every figure from its groups (`validate` rebuilds it the same way)."""
    return IntervalEntry(
        start=start,
        demand_tok_s={w.name: w.demand_tok_s for w in problem.workloads},
        replicas=figures.fleet.replicas,
        gpus=figures.fleet.gpus,
        starts=figures.starts,
        facility_power_kw=figures.fleet.facility_power_w / 1000,
        totals=totals(HorizonFigures((figures,), interval_h)),
        sites=[
            SitePower(
                site=site.name,
                facility_power_kw=figures.site_power_w[site.name] / 1000,
                peak_facility_power_kw=figures.site_peak_w[site.name] / 1000,
                power_budget_kw=site.power_budget_w / 1000,
                carbon_g_per_kwh=site.carbon_g_per_kwh,
                usd_per_kwh=site.usd_per_kwh,
            )
            for site in problem.sites
        ],
        placements=placement_rows(problem, groups),
    )


def saved(baseline: Totals, schedule: Totals) -> Totals:
    """What the schedule saves against a baseline (negative where it spends more)."""
    return Totals(
        energy_kwh=baseline.energy_kwh - schedule.energy_kwh,
        load_scaled_energy_kwh=baseline.load_scaled_energy_kwh - schedule.load_scaled_energy_kwh,
        usd=None if baseline.usd is None or schedule.usd is None else baseline.usd - schedule.usd,
        kg_co2=None if baseline.kg_co2 is None or schedule.kg_co2 is None else baseline.kg_co2 - schedule.kg_co2,
        tokens=baseline.tokens - schedule.tokens,
        joules_per_token=baseline.joules_per_token - schedule.joules_per_token,
        starts=baseline.starts - schedule.starts,
    )


def schedule_file(schedule: Schedule) -> ScheduleFile:
    solution = schedule.solution
    figures = schedule.figures
    horizon = None if figures is None else totals(figures)
    baselines = []
    for baseline in schedule.baselines:
        theirs = None if baseline.figures is None else totals(baseline.figures)
        saves = None if theirs is None or horizon is None else saved(theirs, horizon)
        baselines.append(BaselineTotals(name=baseline.name, description=baseline.description, status=str(baseline.status), totals=theirs, schedule_saves=saves))
    rules = schedule.problem.reconfiguration
    return ScheduleFile(
        scenario=ScenarioRef(name=schedule.scenario.name, sha256=schedule.scenario_sha256),
        demand=series_ref(schedule.inputs.demand.path),
        sites_series=None if schedule.inputs.sites is None else series_ref(schedule.inputs.sites.path),
        current=None if schedule.current is None else series_ref(schedule.current),
        objective=schedule.problem.objective,
        solver=solution.solver,
        status=solution.status,
        gap=solution.gap,
        windows=solution.windows,
        reasons=list(schedule.reasons),
        interval_minutes=schedule.problem.interval_h * 60,
        max_utilization=schedule.problem.intervals[0].max_utilization,
        rules=Rules(load_gb_per_s=schedule.load_gb_per_s, max_changes_per_site=rules.max_changes_per_site, min_up_intervals=rules.min_up_intervals),
        horizon=horizon,
        baselines=baselines,
        intervals=[]
        if figures is None
        else [
            interval_entry(schedule.starts[i].isoformat(), schedule.problem.intervals[i], schedule.solution.intervals[i], f, schedule.problem.interval_h)
            for i, f in enumerate(figures.intervals)
        ],
        notes=[*NOTES, schedule.load_note],
    )


def interval_table(content: ScheduleFile) -> pd.DataFrame:
    """One row per interval, in numbers: demand, replicas and GPUs by type, power, starts, prices."""
    rows = []
    for entry in content.intervals:
        by_type: dict[str, int] = {}
        for row in entry.placements:
            by_type[row.hardware] = by_type.get(row.hardware, 0) + row.gpus
        weights = [(s.facility_power_kw, s) for s in entry.sites if s.facility_power_kw > 0]
        power = sum(w for w, _ in weights)
        rows.append(
            {
                "start (UTC)": entry.start[:16].replace("T", " "),
                "k tok/s": round(sum(entry.demand_tok_s.values()) / 1000, 1),
                "replicas": entry.replicas,
                **{f"{name} GPUs": count for name, count in sorted(by_type.items())},
                "starts": entry.starts,
                "kW": round(entry.facility_power_kw, 1),
                "gCO2/kWh": round(sum(w * (s.carbon_g_per_kwh or 0.0) for w, s in weights) / power) if power else None,
                "kWh": round(entry.totals.energy_kwh, 1),
                "USD": None if entry.totals.usd is None else round(entry.totals.usd, 2),
                "kg CO2": None if entry.totals.kg_co2 is None else round(entry.totals.kg_co2, 1),
            }
        )
    frame = pd.DataFrame(rows)
    gpu_columns = sorted(c for c in frame.columns if c.endswith(" GPUs"))
    frame[gpu_columns] = frame[gpu_columns].fillna(0).astype(int)
    first = ["start (UTC)", "k tok/s", "replicas", *gpu_columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def baseline_table(content: ScheduleFile) -> pd.DataFrame:
    """The schedule and each baseline over the horizon, with what the schedule saves."""
    rows = []
    if content.horizon is not None:
        no_saving = {"saves kWh": None, "saves kWh (load-scaled)": None, "saves USD": None, "saves kg CO2": None}
        rows.append({"plan": f"schedule ({content.objective})", "status": content.status, **_figures(content.horizon), **no_saving})
    for baseline in content.baselines:
        saves = baseline.schedule_saves
        rows.append(
            {
                "plan": baseline.name,
                "status": baseline.status,
                **(_figures(baseline.totals) if baseline.totals else {}),
                "saves kWh": None if saves is None else round(saves.energy_kwh, 1),
                "saves kWh (load-scaled)": None if saves is None else round(saves.load_scaled_energy_kwh, 1),
                "saves USD": None if saves is None or saves.usd is None else round(saves.usd, 2),
                "saves kg CO2": None if saves is None or saves.kg_co2 is None else round(saves.kg_co2, 1),
            }
        )
    return pd.DataFrame(rows)


def _figures(totals: Totals) -> dict[str, float | int | None]:
    return {
        "kWh": round(totals.energy_kwh, 1),
        "kWh (load-scaled)": round(totals.load_scaled_energy_kwh, 1),
        "USD": None if totals.usd is None else round(totals.usd, 2),
        "kg CO2": None if totals.kg_co2 is None else round(totals.kg_co2, 1),
        "mJ/tok": round(totals.joules_per_token * 1000, 1),
        "starts": totals.starts,
    }
