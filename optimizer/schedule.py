"""The day-ahead schedule: which replicas run in each interval of a horizon on a fixed fleet.

Each interval is a placement problem of its own (its demand, site prices, carbon and budgets)
built by optimizer/formulation.py, so an interval is charged exactly as a plan is. The
intervals share one MILP through their replica columns (configuration or candidate, site):
    starts s[c,s,t] >= n[c,s,t] - n[c,s,t-1]       (replicas brought up: weights loaded)
    stops  d[c,s,t] >= n[c,s,t-1] - n[c,s,t]        (only with a change limit)
    sum_c s + d <= R per site and interval          (bounded changes)
    n[c,s,t] >= sum_{t-m < tau <= t} s[c,s,tau]     (a replica started stays up m intervals)
The objective adds each interval's (per hour) objective times its hours, plus each start's
facility energy (loading weights at the GPUs' idle power, times PUE) priced at that site and
interval; the first interval's replicas start free unless the replicas running before it are
given (today's placement). A replica's capacity while it loads
(seconds, against intervals of minutes to an hour) is not taken from its interval: the planner
says whether the longest load fits the capacity the utilisation cap leaves unplanned.

Long horizons are solved rolling: windows of `window` intervals plus `lookahead`, each started
from the replicas the last one left running; the reported gap is then the largest window's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulp

from optimizer.candidates import candidates_by_key, configuration_id
from optimizer.formulation import PlacementModel, build_model, tie_broken_objective
from optimizer.highs import SOLVER_NAME, run
from optimizer.horizon import JOULES_PER_KWH
from optimizer.problem import Objective, PlanProblem, ReplicaGroup, SolveOptions, Status
from optimizer.schedule_intervals import ColumnKey, IntervalSolve, columns, counts, solve_intervals
from optimizer.solve import groups


@dataclass(frozen=True)
class Reconfiguration:
    start_it_j: Mapping[str, float]
    """IT joules to bring up one replica, by configuration id (optimizer/candidates.py)."""
    max_changes_per_site: int | None = None
    """Replicas started plus stopped per site and interval; None: no limit."""
    min_up_intervals: int = 1


@dataclass(frozen=True)
class ScheduleProblem:
    intervals: tuple[PlanProblem, ...]
    """One per interval, in order: same candidates, sites and objective; that interval's demand,
    prices, carbon and budgets."""
    interval_h: float
    reconfiguration: Reconfiguration
    initial: Mapping[ColumnKey, int] | None = None
    """Replicas running before the first interval (today's placement); None: the first interval's start free."""

    @property
    def objective(self) -> Objective:
        return self.intervals[0].objective

    @property
    def highest_demand_tok_s(self) -> dict[str, float]:
        return {w.name: max(p.workloads[i].demand_tok_s for p in self.intervals) for i, w in enumerate(self.intervals[0].workloads)}


@dataclass(frozen=True)
class ScheduleSolution:
    status: Status
    intervals: tuple[tuple[ReplicaGroup, ...], ...] = ()
    objective_value: float | None = None
    """Over the horizon: Wh (facility), USD or gCO2."""
    gap: float | None = None
    solve_s: float = 0.0
    windows: int = 1
    solver: str = SOLVER_NAME
    infeasible_interval: int | None = None
    """The first interval proven infeasible on its own, where that is why the schedule is."""

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")


def column_configuration(problem: PlanProblem, column: str) -> str:
    """The configuration id of a column (a shared id already is one)."""
    if "|" not in column:
        return column
    workload, candidate_id = column.split("|", 1)
    return configuration_id(candidates_by_key(problem.candidates)[(workload, candidate_id)])


def start_charge(problem: PlanProblem, column: str, site_name: str, start_it_j: Mapping[str, float]) -> float:
    """One start of `column` at a site in the interval `problem`, in the objective's units."""
    site = next(s for s in problem.sites if s.name == site_name)
    facility_kwh = start_it_j[column_configuration(problem, column)] * site.pue / JOULES_PER_KWH
    if problem.objective == "cost":
        return facility_kwh * (site.usd_per_kwh or 0.0)
    if problem.objective == "carbon":
        return facility_kwh * (site.carbon_g_per_kwh or 0.0)
    return facility_kwh * 1000.0


@dataclass
class _Coupled:
    """The window's intervals as one MILP: their models' columns and rows, renamed per interval,
    plus starts, stops and the rules."""

    prob: pulp.LpProblem
    objective: pulp.LpAffineExpression
    starts: list[dict[ColumnKey, pulp.LpVariable]]
    stops: list[dict[ColumnKey, pulp.LpVariable]]
    by_name: dict[str, pulp.LpVariable] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {variable.name: variable for variable in self.prob.variables()}


def _couple(problem: ScheduleProblem, models: Sequence[PlacementModel], before: Mapping[ColumnKey, int] | None) -> _Coupled:
    prob = pulp.LpProblem("schedule", pulp.LpMinimize)
    rules = problem.reconfiguration
    found = [columns(model) for model in models]
    objective = pulp.LpAffineExpression()
    for t, model in enumerate(models):
        for variable in model.prob.variables():
            variable.name = f"{variable.name}_t{t}"
        for constraint in model.prob.constraints():
            prob.addConstraint(constraint, f"{constraint.name}_t{t}")
        objective += problem.interval_h * tie_broken_objective(model, model.problem.objective)
    starts: list[dict[ColumnKey, pulp.LpVariable]] = []
    stops: list[dict[ColumnKey, pulp.LpVariable]] = []
    for t, model in enumerate(models):
        started: dict[ColumnKey, pulp.LpVariable] = {}
        stopped_now: dict[ColumnKey, pulp.LpVariable] = {}
        changes: dict[str, list[pulp.LpVariable]] = {}
        for key, n in found[t].items():
            if t == 0 and before is None:
                continue
            previous: pulp.LpVariable | int = found[t - 1][key] if t else (before or {}).get(key, 0)
            s = prob.add_variable(f"start_{n.name}", lowBound=0)
            prob += s - n + previous >= 0, f"started[{n.name}]"
            started[key] = s
            objective += start_charge(model.problem, key[0], key[1], rules.start_it_j) * s
            if rules.max_changes_per_site is not None:
                stopped = prob.add_variable(f"stop_{n.name}", lowBound=0)
                prob += stopped - previous + n >= 0, f"stopped[{n.name}]"
                stopped_now[key] = stopped
                changes.setdefault(key[1], []).extend([s, stopped])
        for site_name, terms in changes.items():
            prob += pulp.lpSum(terms) <= rules.max_changes_per_site, f"changes[{site_name}]_t{t}"
        starts.append(started)
        stops.append(stopped_now)
    if rules.min_up_intervals > 1:
        for t, interval_columns in enumerate(found):
            for key, n in interval_columns.items():
                recent = [starts[tau][key] for tau in range(max(0, t - rules.min_up_intervals + 1), t + 1) if key in starts[tau]]
                if recent:
                    prob += n - pulp.lpSum(recent) >= 0, f"up[{n.name}]"
    return _Coupled(prob, objective, starts, stops)


def windows_of(count: int, window: int | None, lookahead: int) -> list[tuple[int, int, int]]:
    """(first, last kept, last solved) of each window over `count` intervals."""
    size = count if window is None else window
    return [(first, min(first + size, count), min(first + size + lookahead, count)) for first in range(0, count, size)]


def solve_schedule(
    problem: ScheduleProblem,
    options: SolveOptions = SolveOptions(),
    window: int | None = None,
    lookahead: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ScheduleSolution:
    """The schedule minimising the horizon's objective, ties broken by the others per interval.

    Each window is solved in two passes: every interval alone (optimizer/schedule_intervals.py),
    then, where rows tie the intervals or the starts cost more than the gap allows, the window
    as one model started from those plans. With `window`, the horizon is cut into windows of
    that many intervals (plus `lookahead` solved and dropped), each with its share of the limit."""
    started_s = time.monotonic()
    windows = windows_of(len(problem.intervals), window, lookahead)
    before: Mapping[ColumnKey, int] | None = problem.initial
    found: list[tuple[ReplicaGroup, ...]] = []
    total = 0.0
    worst_gap: float | None = 0.0
    proven = True
    for index, (first, last, solved_to) in enumerate(windows):
        deadline_s = None
        if options.time_limit_s is not None:
            left_s = options.time_limit_s - (time.monotonic() - started_s)
            deadline_s = time.monotonic() + max(left_s / (len(windows) - index), MIN_WINDOW_S)
        outcome = _solve_window(problem, problem.intervals[first:solved_to], options, deadline_s, before, progress)
        if outcome.status not in ("optimal", "feasible"):
            where = None if outcome.interval is None else first + outcome.interval
            return ScheduleSolution(status=outcome.status, solve_s=time.monotonic() - started_s, windows=len(windows), infeasible_interval=where)
        proven = proven and outcome.status == "optimal"
        kept = outcome.plans[: last - first]
        found.extend(plan.groups for plan in kept)
        total += _value(problem, problem.intervals[first:last], kept, before, primary=True)
        worst_gap = None if worst_gap is None or outcome.gap is None else max(worst_gap, outcome.gap)
        before = kept[-1].counts
    return ScheduleSolution(
        status="optimal" if proven and len(windows) == 1 else "feasible",
        intervals=tuple(found),
        objective_value=total,
        gap=worst_gap,
        solve_s=time.monotonic() - started_s,
        windows=len(windows),
    )


MIN_WINDOW_S = 1.0
COUPLED_SHARE = 0.3
"""Of a window's time, what the coupled model keeps where rows tie the intervals together."""


@dataclass(frozen=True)
class _Plan:
    """One interval as solved: its groups, replica counts and objective per hour (primary and tie-broken)."""

    groups: tuple[ReplicaGroup, ...]
    counts: dict[ColumnKey, int]
    primary: float
    tie_broken: float


@dataclass(frozen=True)
class _Outcome:
    status: Status
    gap: float | None
    interval: int | None = None
    plans: tuple[_Plan, ...] = ()


def _started(previous: Mapping[ColumnKey, int] | None, now: Mapping[ColumnKey, int]) -> dict[ColumnKey, int]:
    if previous is None:
        return {}
    return {key: count - previous.get(key, 0) for key, count in now.items() if count > previous.get(key, 0)}


def _starts_cost(
    problem: ScheduleProblem, intervals: Sequence[PlanProblem], counts: Sequence[Mapping[ColumnKey, int]], before: Mapping[ColumnKey, int] | None
) -> float:
    """What the replicas started over these intervals cost, in the objective's units."""
    cost = 0.0
    previous = before
    for interval, now in zip(intervals, counts, strict=True):
        for (column, site), count in _started(previous, now).items():
            cost += count * start_charge(interval, column, site, problem.reconfiguration.start_it_j)
        previous = now
    return cost


def _value(problem: ScheduleProblem, intervals: Sequence[PlanProblem], plans: Sequence[_Plan], before: Mapping[ColumnKey, int] | None, primary: bool) -> float:
    """The objective of the plans over their intervals, starts included."""
    hourly = sum(plan.primary if primary else plan.tie_broken for plan in plans)
    return problem.interval_h * hourly + _starts_cost(problem, intervals, [plan.counts for plan in plans], before)


def _plans(models: Sequence[PlacementModel]) -> tuple[_Plan, ...]:
    return tuple(
        _Plan(groups(m), counts(m), pulp.value(m.objectives[m.problem.objective]) or 0.0, pulp.value(tie_broken_objective(m, m.problem.objective)) or 0.0)
        for m in models
    )


def _solve_window(
    problem: ScheduleProblem,
    intervals: Sequence[PlanProblem],
    options: SolveOptions,
    deadline_s: float | None,
    before: Mapping[ColumnKey, int] | None,
    progress: Callable[[int], None] | None,
) -> _Outcome:
    rules = problem.reconfiguration
    coupled = rules.max_changes_per_site is not None or rules.min_up_intervals > 1
    phase_end_s = None
    if deadline_s is not None:
        phase_end_s = deadline_s - (COUPLED_SHARE * (deadline_s - time.monotonic()) if coupled else 0.0)
    def starts_per_hour(plans: Sequence[IntervalSolve]) -> float:
        return _starts_cost(problem, intervals, [a.counts for a in plans], before) / problem.interval_h

    alone = solve_intervals(intervals, problem.highest_demand_tok_s, options, phase_end_s, starts_per_hour, progress)
    if isinstance(alone, int):
        return _Outcome("infeasible", None, alone)
    solved = [a for a in alone if a is not None]
    if len(solved) < len(alone):
        models = _models(problem, intervals)
        return _solve_coupled(_couple(problem, models, before), models, options, _left(deadline_s), None, float("-inf"))
    plans = tuple(_Plan(a.groups, a.counts, a.primary, a.value) for a in solved)
    bound = sum(problem.interval_h * a.bound for a in solved)
    value = _value(problem, intervals, plans, before, primary=False)
    gap = max(value - bound, 0.0) / max(abs(value), 1e-12)
    out_of_time = deadline_s is not None and deadline_s - time.monotonic() < MIN_WINDOW_S / 2
    if not coupled and (gap <= options.gap_rel or out_of_time):
        return _Outcome("optimal" if gap <= options.gap_rel else "feasible", gap, plans=plans)
    models = _models(problem, intervals)
    for model, interval_solve in zip(models, solved, strict=True):
        for variable in model.prob.variables():
            variable.varValue = interval_solve.values[variable.name]
    whole = _couple(problem, models, before)
    start = _start_values(whole, models, before)
    if out_of_time and _satisfied(whole):
        return _Outcome("feasible", gap, plans=plans)
    return _solve_coupled(whole, models, options, _left(deadline_s), start, bound)


def _models(problem: ScheduleProblem, intervals: Sequence[PlanProblem]) -> list[PlacementModel]:
    """This process's models of the intervals, for the coupled model (the intervals alone are solved on models of their own)."""
    return [build_model(interval, bound_demand_tok_s=problem.highest_demand_tok_s) for interval in intervals]


def _left(deadline_s: float | None) -> float | None:
    return None if deadline_s is None else max(deadline_s - time.monotonic(), MIN_WINDOW_S / 2)


def _satisfied(whole: _Coupled) -> bool:
    return all(constraint.valid(1e-6) for constraint in whole.prob.constraints())


def _solve_coupled(
    whole: _Coupled, models: Sequence[PlacementModel], options: SolveOptions, limit_s: float | None, start: dict[str, float] | None, bound: float
) -> _Outcome:
    """The window as one model, from the intervals' own plans where they satisfy it; the start
    is kept where the solve ends worse."""
    usable = start is not None and _satisfied(whole)
    start_value = pulp.value(whole.objective) if usable else None
    result = run(whole.prob, whole.objective, options, limit_s, start if usable else None)
    solved = result.status in ("optimal", "feasible")
    if not solved and not usable:
        return _Outcome(result.status, None)
    value = (pulp.value(whole.objective) or 0.0) if solved else float("inf")
    if result.gap is not None and solved:
        bound = max(bound, value * (1 - result.gap))
    if usable and start is not None and start_value is not None and value > start_value:
        for name, kept in start.items():
            whole.by_name[name].varValue = kept
        value = start_value
    gap = max(value - bound, 0.0) / max(abs(value), 1e-12) if bound > float("-inf") else None
    return _Outcome("optimal" if gap is not None and gap <= options.gap_rel else "feasible", gap, plans=_plans(models))


def _start_values(whole: _Coupled, models: Sequence[PlacementModel], before: Mapping[ColumnKey, int] | None) -> dict[str, float]:
    """The intervals' own plans, with the starts and stops they imply, set on the coupled model."""
    found = [counts(model) for model in models]
    for t, started in enumerate(whole.starts):
        previous = found[t - 1] if t else (before or {})
        for key, s in started.items():
            s.varValue = max(found[t][key] - previous.get(key, 0), 0)
            stopped = whole.stops[t].get(key)
            if stopped is not None:
                stopped.varValue = max(previous.get(key, 0) - found[t][key], 0)
    return {variable.name: variable.varValue or 0.0 for variable in whole.prob.variables()}
