"""`planner.schedule()`: a scenario's installed fleet run by the interval against a demand series
and a site series (carbon, prices, budgets), with the baselines it is measured against.

The scenario gives the fleet (inventories), SLOs, lengths and constant site figures; the demand
series replaces each workload's peak demand interval by interval; the site series replaces
carbon intensity, price and budget where it gives them (a site it does not name keeps the
scenario's figures). Starting a replica loads its weights: bytes over `load_gb_per_s`, at the
GPUs' idle power (catalog), charged at that site and interval.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from models import Catalog, Store, load_catalog
from optimizer.candidates import CandidateSet, configuration_id
from optimizer.diagnosis import explain_infeasibility
from optimizer.horizon import HorizonFigures, horizon_figures, running
from optimizer.problem import Objective, PlanProblem, ReplicaGroup, Share, SolveOptions, Status
from optimizer.replica_groups import members_by_group
from optimizer.schedule import Reconfiguration, ScheduleProblem, ScheduleSolution, solve_schedule, windows_of
from optimizer.schedule_intervals import ColumnKey
from optimizer.solve import MIN_SOLVE_S, solve
from planner.errors import InputError
from planner.formats.placement import Placement, read_placement
from planner.formats.scenario import Scenario
from planner.formats.schedule_file import ScheduleFile, write_schedule
from planner.formats.time_series import DEMAND_COLUMNS, SITE_COLUMNS, Series, read_series
from planner.planning import build_problem, resolve_scenario, solve_options
from planner.schedule_content import baseline_table, interval_table, schedule_file
from planner.stored_points import usable_operating_points
from planner.wording import describe_shortfall

DEFAULT_LOAD_GB_PER_S = 2.0
"""What a replica reads its weights at when it starts: one NVMe drive or a fast network volume
(a stated default; `--load-gb-per-s` overrides it). 16 GB of an 8B model then take 8 s."""


@dataclass(frozen=True)
class ScheduleInputs:
    demand: Series
    sites: Series | None
    """None: every site keeps the scenario's figures in every interval."""


def read_inputs(demand_path: Path, sites_path: Path | None, scenario: Scenario) -> ScheduleInputs:
    """Both series, checked against the scenario and each other: every workload has a demand,
    no name is unknown, both cover the same horizon, the site step is a whole number of demand steps."""
    demand = read_series(demand_path, "workload", DEMAND_COLUMNS, exactly_one=True)
    sites = None if sites_path is None else read_series(sites_path, "site", SITE_COLUMNS, exactly_one=False)
    workloads = [w.label for w in scenario.workloads]
    site_names = [s.name for s in scenario.sites]
    given = [(demand, workloads, "workload")] + ([] if sites is None else [(sites, site_names, "site")])
    for series, names, kind in given:
        unknown = sorted(set(series.values) - set(names))
        if unknown:
            raise InputError(f"{series.path}: {kind} {unknown[0]} is not in the scenario. To fix: use one of {', '.join(names)}.")
    missing = [name for name in workloads if name not in demand.values]
    if missing:
        raise InputError(f"{demand_path}: no demand for workload {missing[0]}. To fix: give every workload of the scenario a series.")
    if sites is None:
        return ScheduleInputs(demand, None)
    if demand.starts[0] != sites.starts[0] or demand.end != sites.end:
        raise InputError(
            f"the demand series covers {_span(demand)} and the site series {_span(sites)}. To fix: give both for the same horizon."
        )
    if sites.step < demand.step or sites.step % demand.step != timedelta(0):
        raise InputError(f"{sites_path}: a step of {sites.step} does not hold whole demand intervals of {demand.step}. To fix: resample one of them.")
    return ScheduleInputs(demand, sites)


def _span(series: Series) -> str:
    return f"{series.starts[0].isoformat()} to {series.end.isoformat()}"


def interval_problems(problem: PlanProblem, scenario: Scenario, inputs: ScheduleInputs) -> tuple[PlanProblem, ...]:
    """One placement problem per demand interval: its demand, and its sites' carbon, price and budget."""
    output_tokens = {w.label: w.output_tokens for w in scenario.workloads}
    demand, sites = inputs.demand, inputs.sites
    per_site_interval = 1 if sites is None else sites.step // demand.step
    found = []
    for index in range(len(demand.starts)):
        workloads = []
        for workload in problem.workloads:
            values = demand.values[workload.name]
            tok_s = values["tokens_per_s"][index] if "tokens_per_s" in values else values["requests_per_s"][index] * output_tokens[workload.name]
            # no traffic, nothing to keep redundant
            workloads.append(replace(workload, demand_tok_s=tok_s, min_sites=workload.min_sites if tok_s > 0 else 1))
        site_index = index // per_site_interval
        specs = []
        for site in problem.sites:
            given = {} if sites is None else {column: value[site_index] for column, value in sites.values.get(site.name, {}).items()}
            specs.append(
                replace(
                    site,
                    carbon_g_per_kwh=given.get("carbon_g_per_kwh", site.carbon_g_per_kwh),
                    usd_per_kwh=given.get("usd_per_kwh", site.usd_per_kwh),
                    power_budget_w=given["power_budget_kw"] * 1000 if "power_budget_kw" in given else site.power_budget_w,
                )
            )
        found.append(replace(problem, workloads=tuple(workloads), sites=tuple(specs)))
    return tuple(found)


def load_seconds(problem: PlanProblem, catalog: Catalog, load_gb_per_s: float) -> dict[str, float]:
    """Seconds a replica of each configuration takes to read its weights at `load_gb_per_s`."""
    return {configuration_id(c): catalog.llms[c.point.model].weight_bytes / (load_gb_per_s * 1e9) for c in problem.candidates}


def initial_columns(placement: Placement, problem: PlanProblem) -> dict[ColumnKey, int]:
    """A placement's replicas as the schedule's columns: a configuration the problem shares by its
    id, any other by the candidate serving it; a row the problem has no column for is taken as
    stopped at the first interval (it costs no start)."""
    shared = members_by_group(problem)
    known = {(c.workload, c.id) for c in problem.candidates}
    found: dict[ColumnKey, int] = {}
    for row in placement.placements:
        if row.configuration in shared:
            key: ColumnKey = (row.configuration, row.site)
        elif len(row.serves) == 1 and (row.serves[0].workload, row.serves[0].candidate) in known:
            key = (f"{row.serves[0].workload}|{row.serves[0].candidate}", row.site)
        else:
            continue
        found[key] = found.get(key, 0) + row.replicas
    return found


def start_energy_j(problem: PlanProblem, catalog: Catalog, load_gb_per_s: float) -> dict[str, float]:
    """IT joules to bring up one replica, by configuration: its weights read at `load_gb_per_s`
    while its GPUs draw their idle power."""
    seconds = load_seconds(problem, catalog, load_gb_per_s)
    return {configuration_id(c): seconds[configuration_id(c)] * c.gpus_per_replica * catalog.gpus[c.hardware].idle_w for c in problem.candidates}


@dataclass(frozen=True)
class ScheduleBaseline:
    name: str
    description: str
    status: Status | str
    figures: HorizonFigures | None = None


@dataclass(frozen=True)
class Schedule:
    scenario: Scenario
    scenario_sha256: str
    inputs: ScheduleInputs
    problem: ScheduleProblem
    candidate_set: CandidateSet
    solution: ScheduleSolution
    baselines: tuple[ScheduleBaseline, ...]
    load_gb_per_s: float
    idle_w: Mapping[str, float]
    """Idle power per GPU, by type (catalog): the floor of the load-scaled energy figure."""
    reasons: tuple[str, ...] = ()
    """Why there is no schedule: the interval that cannot be served and what it lacks."""
    current: Path | None = None
    """Today's placement file, whose replicas run before the first interval."""

    @cached_property
    def initial_running(self) -> dict[tuple[str, str], int] | None:
        """What runs before the first interval, by (configuration, site)."""
        return None if self.current is None else running(read_placement(self.current).placements)

    @property
    def status(self) -> Status:
        return self.solution.status

    @property
    def starts(self) -> tuple[datetime, ...]:
        return self.inputs.demand.starts

    def to_schedule_file(self) -> ScheduleFile:
        return self._content

    @cached_property
    def _content(self) -> ScheduleFile:
        """Built once: the table, the comparison and the file all read it."""
        return schedule_file(self)

    def to_file(self, path: str | Path) -> None:
        write_schedule(self.to_schedule_file(), Path(path))

    @property
    def table(self) -> pd.DataFrame:
        """One row per interval: demand, replicas, GPUs by type, starts, kW, carbon, kWh, $, kg CO2."""
        return interval_table(self.to_schedule_file())

    @property
    def comparison(self) -> pd.DataFrame:
        """The schedule and its baselines over the horizon, with what the schedule saves."""
        return baseline_table(self.to_schedule_file())

    @property
    def load_note(self) -> str:
        """Whether a start's weight load fits in the capacity the utilisation cap leaves unplanned:
        a replica planned at u of its throughput can lose (1 - u) of an interval and still carry its load."""
        interval_s = self.problem.interval_h * 3600
        headroom_s = (1 - self.problem.intervals[0].max_utilization) * interval_s
        longest_s, slowest = max((seconds, config) for config, seconds in self.load_s.items())
        if longest_s <= headroom_s:
            return (
                f"every start's weight load (at most {longest_s:.0f} s, {slowest}) fits in the {headroom_s:.0f} s of each "
                "interval the utilisation cap leaves unplanned"
            )
        return (
            f"a start of {slowest} loads its weights for {longest_s:.0f} s, more than the {headroom_s:.0f} s of an interval the "
            "utilisation cap leaves unplanned: such a replica may fall short in the interval it starts (longer intervals or faster storage avoid it)"
        )

    @property
    def load_s(self) -> dict[str, float]:
        """Seconds a replica of each configuration takes to load its weights."""
        return load_seconds(self.problem.intervals[0], load_catalog(), self.load_gb_per_s)

    @cached_property
    def figures(self) -> HorizonFigures | None:
        if not self.solution.has_solution:
            return None
        problem = self.problem
        return horizon_figures(problem.intervals, self.solution.intervals, problem.interval_h, problem.reconfiguration.start_it_j, self.idle_w, self.initial_running)


def _held(groups: Sequence[ReplicaGroup], peak: PlanProblem, interval: PlanProblem) -> tuple[ReplicaGroup, ...]:
    """A peak plan's groups carrying an interval's demand: each share scaled by its workload's demand then over its peak."""
    scale = {
        now.name: (now.demand_tok_s / top.demand_tok_s if top.demand_tok_s else 0.0)
        for now, top in zip(interval.workloads, peak.workloads, strict=True)
    }
    return tuple(replace(g, shares=tuple(Share(s.workload, s.candidate_id, s.tok_s * scale[s.workload]) for s in g.shares)) for g in groups)


def peak_problem(intervals: Sequence[PlanProblem]) -> PlanProblem:
    """The plan a static fleet needs: each workload at its highest demand, each site at its lowest budget."""
    first = intervals[0]
    workloads = tuple(
        replace(w, demand_tok_s=max(p.workloads[i].demand_tok_s for p in intervals), min_sites=max(p.workloads[i].min_sites for p in intervals))
        for i, w in enumerate(first.workloads)
    )
    sites = tuple(replace(s, power_budget_w=min(p.sites[i].power_budget_w for p in intervals)) for i, s in enumerate(first.sites))
    return replace(first, workloads=workloads, sites=sites)


def static_peak_plan(problem: ScheduleProblem, options: SolveOptions | None, idle_w: Mapping[str, float]) -> ScheduleBaseline:
    """The plan for the horizon's peak run in every interval, carrying each interval's demand;
    None options: no time was left for it."""
    peak = peak_problem(problem.intervals)
    description = "the plan for each workload's peak demand (and each site's lowest budget), run every interval"
    static = solve(peak, options) if options is not None else None
    if static is None or not static.has_solution:
        return ScheduleBaseline("static peak plan", description, "skipped: no time left" if static is None else static.status)
    held = [_held(static.groups, peak, interval) for interval in problem.intervals]
    figures = horizon_figures(problem.intervals, held, problem.interval_h, problem.reconfiguration.start_it_j, idle_w)
    return ScheduleBaseline("static peak plan", description, static.status, figures)


def _baselines(
    problem: ScheduleProblem, options: SolveOptions, window: int | None, deadline_s: float | None, idle_w: Mapping[str, float]
) -> tuple[ScheduleBaseline, ...]:
    """The static peak plan, and the schedules for energy and for carbon (no change limits)
    where they differ from the one solved."""
    found = [static_peak_plan(problem, _within(options, deadline_s, 3), idle_w)]
    others: list[tuple[str, str, Objective, Reconfiguration]] = [
        ("energy optimum", "each interval's energy optimum, carbon and price ignored (same rules)", "energy", problem.reconfiguration),
        ("carbon optimum", "the carbon optimum with no limit on changes", "carbon", Reconfiguration(problem.reconfiguration.start_it_j)),
    ]
    others = [other for other in others if not (other[2] == problem.objective and other[3] == problem.reconfiguration)]
    for index, (name, text, objective, rules) in enumerate(others):
        if objective == "carbon" and any(s.carbon_g_per_kwh is None for p in problem.intervals for s in p.sites):
            found.append(ScheduleBaseline(name, text, "skipped: a site gives no carbon intensity"))
            continue
        limited = _within(options, deadline_s, len(others) - index)
        if limited is None:
            found.append(ScheduleBaseline(name, text, "skipped: no time left"))
            continue
        variant = ScheduleProblem(tuple(replace(p, objective=objective) for p in problem.intervals), problem.interval_h, rules)
        solved = solve_schedule(variant, limited, window)
        result = horizon_figures(variant.intervals, solved.intervals, variant.interval_h, rules.start_it_j, idle_w) if solved.has_solution else None
        found.append(ScheduleBaseline(name, text, solved.status, result))
    return tuple(found)


def _within(options: SolveOptions, deadline_s: float | None, solves_left: int) -> SolveOptions | None:
    """Options for the next of `solves_left` solves sharing what is left before `deadline_s`."""
    if deadline_s is None:
        return options
    left_s = (deadline_s - time.monotonic()) / max(solves_left, 1)
    return None if left_s < MIN_SOLVE_S else replace(options, time_limit_s=left_s)


MAIN_SHARE = 0.5
"""Of a time limit, what the schedule itself may use when baselines follow; they share the rest."""


def schedule(
    scenario_or_path: Scenario | str | Path | dict,
    demand_path: str | Path,
    sites_path: str | Path | None = None,
    store: Store | None = None,
    objective: Objective | None = None,
    time_limit_s: float | None = None,
    gap_rel: float = 1e-3,
    load_gb_per_s: float = DEFAULT_LOAD_GB_PER_S,
    max_changes_per_site: int | None = None,
    min_up_intervals: int = 1,
    window: int | None = None,
    with_baselines: bool = True,
    lookahead: int = 0,
    progress: bool = False,
    current: str | Path | None = None,
) -> Schedule:
    """The schedule of a scenario's fleet over the series' horizon. `time_limit_s` bounds the
    whole call: the schedule gets half of it when baselines follow, and they share what is left
    (each skipped, and said so, when too little is). `current`, today's placement file: its
    replicas run before the first interval, so the first interval pays for what it starts."""
    from planner.store_setup import open_store

    options = solve_options(time_limit_s, gap_rel)
    if not load_gb_per_s > 0:
        raise InputError(f"--load-gb-per-s {load_gb_per_s} must be positive. To fix: give the storage bandwidth in GB/s, e.g. 2.")
    if max_changes_per_site is not None and max_changes_per_site < 0:
        raise InputError(f"--max-changes-per-site {max_changes_per_site} is negative. To fix: give 0 or more replicas.")
    if min_up_intervals < 1 or (window is not None and window < 1) or lookahead < 0:
        raise InputError("--min-up-intervals, --window and --lookahead count intervals. To fix: give 1 or more (--lookahead: 0 or more).")
    if lookahead and window is None:
        raise InputError("--lookahead looks past a window. To fix: give --window N too.")
    started_s = time.monotonic()
    catalog = load_catalog()
    scenario, digest = resolve_scenario(scenario_or_path, catalog)
    inputs = read_inputs(Path(demand_path), None if sites_path is None else Path(sites_path), scenario)
    points = usable_operating_points(store or open_store())
    base, candidate_set = build_problem(scenario, points, catalog, objective)
    intervals = interval_problems(base, scenario, inputs)
    rules = Reconfiguration(start_energy_j(base, catalog, load_gb_per_s), max_changes_per_site, min_up_intervals)
    initial = None if current is None else initial_columns(read_placement(Path(current)), base)
    problem = ScheduleProblem(intervals, inputs.demand.step / timedelta(hours=1), rules, initial)
    if candidate_set.unserved:
        name, why = next(iter(candidate_set.unserved.items()))
        raise InputError(f"workloads[{name}]: no measured configuration serves it ({why}). To fix: see `planner plan` on the scenario.")
    main = options if time_limit_s is None or not with_baselines else replace(options, time_limit_s=MAIN_SHARE * time_limit_s)
    solved = sum(last - first for first, _, last in windows_of(len(intervals), window, lookahead))
    with tqdm(total=solved, unit="interval", desc="schedule", file=sys.stderr, disable=not progress) as bar:
        solution = solve_schedule(problem, main, window, lookahead, bar.update)
    deadline_s = None if time_limit_s is None else started_s + time_limit_s
    idle_w = {name: gpu.idle_w for name, gpu in catalog.gpus.items()}
    baselines = _baselines(problem, options, window, deadline_s, idle_w) if with_baselines and solution.has_solution else ()
    reasons = _reasons(problem, solution, inputs, options)
    return Schedule(scenario, digest, inputs, problem, candidate_set, solution, baselines, load_gb_per_s, idle_w, reasons,
                    None if current is None else Path(current))  # fmt: skip


def _reasons(problem: ScheduleProblem, solution: ScheduleSolution, inputs: ScheduleInputs, options: SolveOptions) -> tuple[str, ...]:
    if solution.has_solution:
        return ()
    if solution.infeasible_interval is None:
        if solution.status == "no_solution":
            return (f"no schedule found within the time limit ({options.time_limit_s:g} s). To fix: allow more time, or a --window.",)
        return ("no schedule meets the reconfiguration limits. To fix: allow more changes per site or a shorter minimum up-time.",)
    index = solution.infeasible_interval
    interval = problem.intervals[index]
    pue = {site.name: site.pue for site in interval.sites}
    when = inputs.demand.starts[index].isoformat()
    return tuple(f"interval {when}: {describe_shortfall(shortfall, pue)}" for shortfall in explain_infeasibility(interval, options))
