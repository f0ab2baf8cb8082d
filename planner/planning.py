"""`planner.plan()`: scenario + Store -> candidates -> MILP -> a Plan with baselines and prices."""

from __future__ import annotations

import fnmatch
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import yaml

from models import Catalog, Store, load_catalog
from optimizer.baselines import Baseline
from optimizer.candidates import CandidateSet, WorkloadSpec, build_candidates, candidates_by_key
from optimizer.diagnosis import ShadowPrice, Shortfall, explain_infeasibility
from optimizer.follow_ups import follow_ups
from optimizer.metrics import FleetSummary, summarize
from optimizer.operating_point import OperatingPoint
from optimizer.problem import Objective, PlanProblem, SiteSpec, Solution, SolveOptions, Status
from optimizer.solve import solve
from planner.derived_lengths import derived_points
from planner.errors import InputError
from planner.formats.placement import (
    BaselineEntry,
    Placement,
    PlacementRow,
    ScenarioRef,
    ShadowPriceEntry,
    TraceRef,
    write_placement,
)
from planner.formats.scenario import Scenario, Sources, load_scenario, missing_objective_input, parse_scenario
from planner.placement_content import placement_rows, site_echoes, summary_entry, workload_echoes
from planner.stored_points import usable_operating_points
from planner.wording import describe_shortfall

OBJECTIVE_UNITS = {"energy": "W (facility)", "cost": "USD/h", "carbon": "gCO2/h", "gpus": "GPUs"}
UNASSIGNED_NOTE = "GPUs not placed are taken as released (powered off); their idle power is not counted."


def workload_specs(scenario: Scenario) -> tuple[WorkloadSpec, ...]:
    return tuple(
        WorkloadSpec(
            name=w.label,
            model=w.model,
            demand_tok_s=w.demand_tok_s,
            prompt_tokens=w.prompt_tokens,
            output_tokens=w.output_tokens,
            ttft_slo_ms=w.slo.ttft_ms,
            tpot_slo_ms=w.slo.tpot_ms,
            slo_statistic=w.slo.statistic,
            min_sites=w.min_sites,
            profile=w.profile,
            sites=None if w.sites is None else frozenset(w.sites),
        )
        for w in scenario.workloads
    )


def site_specs(scenario: Scenario) -> tuple[SiteSpec, ...]:
    return tuple(
        SiteSpec(
            name=s.name,
            power_budget_w=s.power_budget_kw * 1000,
            pue=s.pue,
            carbon_g_per_kwh=s.carbon_g_per_kwh,
            usd_per_kwh=s.usd_per_kwh,
            inventory=dict(s.gpus),
            usd_per_gpu_hour=dict(s.usd_per_gpu_hour),
        )
        for s in scenario.sites
    )


def gpu_hour_prices(scenario: Scenario, catalog: Catalog) -> dict[str, float]:
    """$ per GPU-hour by type: the scenario's where it gives one, else the catalog's list price
    (a site's own prices override both, in SiteSpec)."""
    return {name: gpu.usd_per_gpu_hour for name, gpu in catalog.gpus.items()} | dict(scenario.usd_per_gpu_hour)


def select_sources(points: Sequence[OperatingPoint], sources: Sources) -> list[OperatingPoint]:
    """The points whose source matches an `include` pattern (all, without one) and no `exclude`
    pattern; a pattern that matches no stored source is refused, so a typo cannot pass silently."""
    known = sorted({point.source for point in points})
    for kind, patterns in (("include", sources.include), ("exclude", sources.exclude)):
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(source, pattern) for source in known):
                raise InputError(
                    f"sources.{kind}: {pattern!r} matches no measurement source. To fix: use one of "
                    f"{', '.join(known)} (shell-style patterns such as 'reference/*' work)."
                )
    return [
        point
        for point in points
        if (not sources.include or any(fnmatch.fnmatchcase(point.source, p) for p in sources.include))
        and not any(fnmatch.fnmatchcase(point.source, p) for p in sources.exclude)
    ]


def planning_points(scenario: Scenario, workloads: Sequence[WorkloadSpec], points: Sequence[OperatingPoint], catalog: Catalog) -> list[OperatingPoint]:
    """The Store's points a scenario plans on: its sources, and where it asks, points moved to its
    workloads' lengths from measurements at others."""
    selected = select_sources(points, scenario.sources)
    return selected + derived_points(selected, workloads, catalog) if scenario.derive_lengths else selected


def build_problem(
    scenario: Scenario,
    points: Sequence[OperatingPoint],
    catalog: Catalog,
    objective: Objective | None = None,
    prune: bool = True,
    caps_from_traces: bool = False,
) -> tuple[PlanProblem, CandidateSet]:
    """The optimizer's input; refuses what no solve could fix (a model nobody measured, a task
    profile no measurement was taken on, a site whose budget cannot hold one replica).
    `max_utilization: auto` is refused unless the caller gives each candidate its cap."""
    if scenario.max_utilization == "auto" and not caps_from_traces:
        raise InputError(
            "max_utilization: auto gives each candidate a cap simulated under its trace, which `planner plan` and "
            "`planner caps` do; forecasts and schedules plan at one cap. To fix: give max_utilization a number here."
        )
    missing = missing_objective_input(scenario, objective or scenario.objective)
    if missing:
        raise InputError(f"{missing}. To fix: give it in the scenario's sites, or plan for another objective.")
    workloads = workload_specs(scenario)
    points = planning_points(scenario, workloads, points, catalog)
    profiles = {point.workload_profile for point in points if point.workload_profile is not None}
    for workload in workloads:
        if workload.profile is not None and workload.profile not in profiles:
            raise InputError(
                f"workloads[{workload.name}].profile: no measurement in the Store was taken on task {workload.profile!r}. "
                f"To fix: use one of {', '.join(sorted(profiles)) or '(none stored)'} (`planner db info` lists them), or drop it."
            )
    measured_models = {point.model for point in points}
    for workload in workloads:
        if workload.model not in measured_models:
            raise InputError(
                f"workloads[{workload.name}].model: {workload.model} has no usable measurement in the Store. "
                f"To fix: `planner import` measurements of it, or pick a measured model ({', '.join(sorted(measured_models))})."
            )
    candidate_set = build_candidates(workloads, points, prune=prune)
    sites = site_specs(scenario)
    for site in sites:
        usable = [c for c in candidate_set.candidates if site.inventory.get(c.hardware, 0) >= c.gpus_per_replica]
        if usable:
            smallest = min(usable, key=lambda c: c.peak_power_w)
            need_kw = site.pue * smallest.peak_power_w / 1000
            if site.power_budget_w / 1000 < need_kw:
                raise InputError(
                    f"sites[{site.name}].power_budget_kw: {site.power_budget_w / 1000:g} kW is below the smallest "
                    f"replica it could host ({smallest.hardware}, {smallest.peak_power_w:.0f} W peak x PUE "
                    f"{site.pue:g} = {need_kw:.2f} kW). To fix: raise the budget or remove the site."
                )
    usd_per_gpu_hour = gpu_hour_prices(scenario, catalog)
    problem = PlanProblem(
        workloads=workloads,
        candidates=candidate_set.candidates,
        sites=sites,
        usd_per_gpu_hour=usd_per_gpu_hour,
        max_utilization=scenario.blanket_utilization,
        objective=objective or scenario.objective,
    )
    return problem, candidate_set


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    scenario_sha256: str
    problem: PlanProblem
    candidate_set: CandidateSet
    solution: Solution
    reasons: tuple[Shortfall, ...]
    baselines: tuple[Baseline, ...]
    shadow_prices: tuple[ShadowPrice, ...]
    traces: Mapping[str, TraceRef] = field(default_factory=dict)
    """The traces the candidates' utilisation caps were simulated under, where they were."""

    @property
    def status(self) -> Status:
        """`infeasible` only when proven (HiGHS said so, or no candidate serves a workload);
        `no_solution` when the time limit ran out before any placement was found."""
        return self.solution.status

    @property
    def fleet(self) -> FleetSummary | None:
        return summarize(self.problem, self.solution.groups) if self.solution.has_solution else None

    @property
    def summary(self) -> dict[str, object]:
        placement = self.to_placement()
        return placement.summary.model_dump() if placement.summary else {"status": self.status, "reasons": list(self.reasons)}

    @property
    def placements(self) -> pd.DataFrame:
        return pd.DataFrame([row.model_dump() for row in self._rows()])

    def _rows(self) -> list[PlacementRow]:
        return placement_rows(self.problem, self.solution.groups)

    def _baseline_entries(self, fleet: FleetSummary) -> list[BaselineEntry]:
        entries = []
        for baseline in self.baselines:
            other = baseline.summary
            entries.append(
                BaselineEntry(
                    name=baseline.name,
                    description=baseline.description,
                    status=baseline.status,
                    joules_per_token=None if other is None else other.joules_per_token,
                    usd_per_million_tokens=None if other is None else other.usd_per_million_tokens,
                    g_co2_per_million_tokens=None if other is None else other.g_co2_per_million_tokens,
                    gpus=None if other is None else other.gpus,
                    plan_saves_pct=None
                    if other is None
                    else round(100 * (1 - fleet.joules_per_token / other.joules_per_token), 2),
                )
            )
        return entries

    def to_placement(self) -> Placement:
        fleet = self.fleet
        summary = None
        if fleet is not None:
            summary = summary_entry(fleet, self.solution.gap, self._baseline_entries(fleet))
        rows = self._rows()
        candidates = candidates_by_key(self.problem.candidates)
        flagged = sorted(
            {flag.kind for g in self.solution.groups for s in g.shares for flag in candidates[(s.workload, s.candidate_id)].flags}
        )
        notes = [UNASSIGNED_NOTE]
        if flagged:
            notes.append(f"placed candidates carry flags the data could not verify: {', '.join(flagged)} (see each row)")
        return Placement(
            scenario=ScenarioRef(name=self.scenario.name, sha256=self.scenario_sha256),
            objective=self.problem.objective,
            solver=self.solution.solver,
            status=self.status,
            gap=self.solution.gap,
            reasons=self.reason_lines(),
            max_utilization=self.scenario.max_utilization,
            sites=site_echoes(self.scenario),
            workloads=workload_echoes(self.problem),
            summary=summary,
            placements=rows,
            shadow_prices=[
                ShadowPriceEntry(
                    resource=p.resource,
                    unit=p.unit,
                    objective_change_per_unit=p.value_per_unit,
                    resolution=p.resolution,
                    objective_unit=OBJECTIVE_UNITS[self.problem.objective],
                    method=p.method,
                )
                for p in self.shadow_prices
            ],
            candidates_pruned=dict(self.candidate_set.pruned),
            notes=notes,
            traces=dict(self.traces),
        )

    def reason_lines(self) -> list[str]:
        pue = {site.name: site.pue for site in self.problem.sites}
        return [describe_shortfall(reason, pue) for reason in self.reasons]

    def to_file(self, path: str | Path) -> None:
        write_placement(self.to_placement(), Path(path))


def scenario_yaml(content: dict) -> str:
    """The YAML a scenario given as a dict is identified by (its sha256 goes in the placement)."""
    return yaml.safe_dump(content, sort_keys=False)


def _yaml_sha256(content: dict) -> str:
    return hashlib.sha256(scenario_yaml(content).encode()).hexdigest()


def scenario_sha256(scenario: Scenario) -> str:
    """The digest of the scenario as `scenario_yaml` writes it (a forecast's month, say)."""
    return _yaml_sha256(scenario.model_dump(mode="json", exclude_none=True))


def resolve_scenario(scenario_or_path: Scenario | str | Path | dict, catalog: Catalog) -> tuple[Scenario, str]:
    if isinstance(scenario_or_path, Scenario):
        return scenario_or_path, ""
    if isinstance(scenario_or_path, dict):
        return parse_scenario(scenario_or_path, catalog), _yaml_sha256(scenario_or_path)
    return load_scenario(Path(scenario_or_path), catalog)


def solve_options(time_limit_s: float | None, gap_rel: float) -> SolveOptions:
    """The options `plan` and `forecast` solve with, or an InputError naming the bad one."""
    if time_limit_s is not None and not time_limit_s > 0:
        raise InputError(f"--time-limit {time_limit_s} must be positive. To fix: give seconds, e.g. --time-limit 30.")
    if not 0 <= gap_rel < 1:
        raise InputError(f"--gap {gap_rel} must be a fraction in [0, 1). To fix: e.g. --gap 0.001 for 0.1 %.")
    return SolveOptions(time_limit_s=time_limit_s, gap_rel=gap_rel)


def plan(
    scenario_or_path: Scenario | str | Path | dict,
    store: Store | None = None,
    objective: Objective | None = None,
    time_limit_s: float | None = None,
    gap_rel: float = 1e-3,
    with_baselines: bool = True,
    with_shadow_prices: bool = True,
    sources: Sources | None = None,
    trace_files: Mapping[str, str | Path] | None = None,
    cap_scales: Mapping[str, float] | None = None,
) -> Plan:
    """The placement of a scenario on the Store's measurements; never raises for infeasible
    demand (the Plan says why), raises InputError for input no solve could use. `sources`
    replaces the scenario's choice of measurement sources. With `trace_files` (a request trace
    per workload), each candidate is held to the utilisation its simulated replica meets the
    SLO at under that trace (planner/utilization_caps.py) instead of the scenario's cap, times
    the workload's share in `cap_scales` (planner/confirming.py lowers it where the fleet misses)."""
    from planner.store_setup import open_store

    options = solve_options(time_limit_s, gap_rel)
    catalog = load_catalog()
    scenario, digest = resolve_scenario(scenario_or_path, catalog)
    if sources is not None:
        scenario = scenario.model_copy(update={"sources": sources})
    points = usable_operating_points(store or open_store())
    # with caps from traffic a candidate pruned on its measured figures could carry more than the one kept
    if trace_files is None and scenario.max_utilization == "auto":
        trace_files = scenario.traces
    problem, candidate_set = build_problem(scenario, points, catalog, objective, prune=not trace_files, caps_from_traces=bool(trace_files))
    if not trace_files:
        return plan_problem(scenario, digest, problem, candidate_set, options, with_baselines, with_shadow_prices)
    from planner.utilization_caps import capped

    problem, candidate_set, traces = capped(problem, candidate_set, points, {name: Path(path) for name, path in trace_files.items()}, cap_scales)
    return replace(plan_problem(scenario, digest, problem, candidate_set, options, with_baselines, with_shadow_prices), traces=traces)


def plan_problem(
    scenario: Scenario,
    digest: str,
    problem: PlanProblem,
    candidate_set: CandidateSet,
    options: SolveOptions,
    with_baselines: bool = True,
    with_shadow_prices: bool = True,
    start_from: Solution | None = None,
) -> Plan:
    """The Plan of a built problem: solved, explained when infeasible, compared with baselines.
    A forecast calls it month after month on one set of candidates, starting from the last month."""
    started_s = time.monotonic()
    if candidate_set.unserved:
        solution = Solution(status="infeasible")
        reasons = tuple(Shortfall("no_candidate", workloads=(name,), detail=why) for name, why in candidate_set.unserved.items())
        return Plan(scenario, digest, problem, candidate_set, solution, reasons, (), ())
    solution = solve(problem, options, start_from)
    if not solution.has_solution:
        if solution.status == "infeasible":
            reasons = tuple(explain_infeasibility(problem, options))
        else:
            reasons = (Shortfall("time_limit", held=options.time_limit_s),)
        return Plan(scenario, digest, problem, candidate_set, solution, reasons, (), ())
    # the time limit bounds the whole plan: the main solve first, then the baselines and shadow
    # prices within what is left (each skipped, and said so, when too little is)
    deadline_s = None if options.time_limit_s is None else started_s + options.time_limit_s
    baselines, prices = follow_ups(problem, solution, options, deadline_s, with_baselines, with_shadow_prices)
    return Plan(scenario, digest, problem, candidate_set, solution, (), baselines, prices)
