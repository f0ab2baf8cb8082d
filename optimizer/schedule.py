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
interval. A replica's capacity while it loads (seconds, for intervals of minutes to an hour) is
not taken from its interval: the planner says how long a load takes against the interval.

Long horizons are solved rolling: windows of `window` intervals plus `lookahead`, each started
from the replicas the last one left running; the reported gap is then the largest window's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulp

from optimizer.candidates import candidates_by_key, configuration_id
from optimizer.formulation import PlacementModel, build_model, tie_broken_objective
from optimizer.highs import SOLVER_NAME, run
from optimizer.horizon import JOULES_PER_KWH
from optimizer.problem import Objective, PlanProblem, ReplicaGroup, SolveOptions, Status
from optimizer.solve import groups

ColumnKey = tuple[str, str]
"""(column id, site): a shared configuration's id, or `workload|candidate id` for a candidate's
own replicas; the same column in every interval."""


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

    @property
    def objective(self) -> Objective:
        return self.intervals[0].objective


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


def column_key(model: PlacementModel, key: tuple[str, ...]) -> ColumnKey:
    if len(key) == 2:
        return key[0], key[1]
    return f"{key[0]}|{key[1]}", key[2]


def column_configuration(problem: PlanProblem, column: str) -> str:
    """The configuration id of a column (a shared id already is one)."""
    if "|" not in column:
        return column
    workload, candidate_id = column.split("|", 1)
    return configuration_id(candidates_by_key(problem.candidates)[(workload, candidate_id)])


def _columns(model: PlacementModel) -> dict[ColumnKey, pulp.LpVariable]:
    found = {column_key(model, key): n for key, n in model.replicas.items()}
    found.update({column_key(model, key): n for key, n in model.groups.items()})
    return found


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
class _Built:
    prob: pulp.LpProblem
    objective: pulp.LpAffineExpression
    primary: pulp.LpAffineExpression
    models: list[PlacementModel]
    starts: list[dict[ColumnKey, pulp.LpVariable]]
    stops: list[dict[ColumnKey, pulp.LpVariable]]
    interval_h: float
    coupled: bool
    """Rows beyond the starts tie the intervals (a change limit, a minimum up-time)."""
    by_name: dict[str, pulp.LpVariable] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {variable.name: variable for variable in self.prob.variables()}


def _build(problem: ScheduleProblem, intervals: Sequence[PlanProblem], before: Mapping[ColumnKey, int] | None) -> _Built:
    prob = pulp.LpProblem("schedule", pulp.LpMinimize)
    rules = problem.reconfiguration
    models: list[PlacementModel] = []
    columns: list[dict[ColumnKey, pulp.LpVariable]] = []
    primary_terms = pulp.LpAffineExpression()
    objective = pulp.LpAffineExpression()
    # a replica kept through a quiet interval can cost less than starting it again
    highest = {w.name: max(p.workloads[i].demand_tok_s for p in problem.intervals) for i, w in enumerate(problem.intervals[0].workloads)}
    for t, interval in enumerate(intervals):
        model = build_model(interval, bound_demand_tok_s=highest)
        for variable in model.prob.variables():
            variable.name = f"{variable.name}_t{t}"
        for constraint in model.prob.constraints():
            prob.addConstraint(constraint, f"{constraint.name}_t{t}")
        models.append(model)
        columns.append(_columns(model))
        primary_terms += problem.interval_h * model.objectives[interval.objective]
        objective += problem.interval_h * tie_broken_objective(model, interval.objective)
    starts: list[dict[ColumnKey, pulp.LpVariable]] = []
    stops: list[dict[ColumnKey, pulp.LpVariable]] = []
    for t, interval in enumerate(intervals):
        started: dict[ColumnKey, pulp.LpVariable] = {}
        stopped_now: dict[ColumnKey, pulp.LpVariable] = {}
        changes: dict[str, list[pulp.LpVariable]] = {}
        for key, n in columns[t].items():
            if t == 0 and before is None:
                continue
            previous: pulp.LpVariable | int = columns[t - 1][key] if t else before.get(key, 0)  # type: ignore[union-attr]
            s = prob.add_variable(f"start_{n.name}", lowBound=0)
            prob += s - n + previous >= 0, f"started[{n.name}]"
            started[key] = s
            charge = start_charge(interval, key[0], key[1], rules.start_it_j)
            primary_terms += charge * s
            objective += charge * s
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
        for t, interval_columns in enumerate(columns):
            for key, n in interval_columns.items():
                recent = [starts[tau][key] for tau in range(max(0, t - rules.min_up_intervals + 1), t + 1) if key in starts[tau]]
                if recent:
                    prob += n - pulp.lpSum(recent) >= 0, f"up[{n.name}]"
    coupled = rules.max_changes_per_site is not None or rules.min_up_intervals > 1
    return _Built(prob, objective, primary_terms, models, starts, stops, problem.interval_h, coupled)


def solve_schedule(problem: ScheduleProblem, options: SolveOptions = SolveOptions(), window: int | None = None, lookahead: int = 0) -> ScheduleSolution:
    """The schedule minimising the horizon's objective, ties broken by the others per interval.

    Each window is solved in two passes: every interval alone first (a small MILP each; their
    bounds add up to a bound on the window, since starts cost nothing less than zero and the
    change rows only remove schedules), then the coupled model started from those plans, which
    trades replicas kept against starts. With `window`, the horizon is cut into windows of that
    many intervals (plus `lookahead` solved and dropped), each given its share of the limit."""
    started_s = time.monotonic()
    count = len(problem.intervals)
    size = count if window is None else window
    windows = [(first, min(first + size, count)) for first in range(0, count, size)]
    before: dict[ColumnKey, int] | None = None
    found: list[tuple[ReplicaGroup, ...]] = []
    total = 0.0
    worst_gap: float | None = 0.0
    proven = True
    for index, (first, last) in enumerate(windows):
        deadline_s = None
        if options.time_limit_s is not None:
            left_s = options.time_limit_s - (time.monotonic() - started_s)
            deadline_s = time.monotonic() + max(left_s / (len(windows) - index), MIN_WINDOW_S)
        built = _build(problem, problem.intervals[first : min(last + lookahead, count)], before)
        outcome = _solve_window(built, options, deadline_s, before)
        if outcome.status not in ("optimal", "feasible"):
            where = None if outcome.interval is None else first + outcome.interval
            return ScheduleSolution(status=outcome.status, solve_s=time.monotonic() - started_s, windows=len(windows), infeasible_interval=where)
        proven = proven and outcome.status == "optimal"
        kept = last - first
        found.extend(groups(model) for model in built.models[:kept])
        total += _kept_value(built, kept, problem)
        worst_gap = None if worst_gap is None or outcome.gap is None else max(worst_gap, outcome.gap)
        before = {key: round(n.varValue or 0.0) for key, n in _columns(built.models[kept - 1]).items()}
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
FIRST_TRY_S = 2.0
"""An interval's first solve is at most this long or its share of what is left (most hours of
large.yaml prove 0.1 % in 0.05-0.5 s); the interval furthest from its bound is then solved
again with twice its last limit, in turn, until each is within the gap or time runs out."""
MIN_TRY_S = 0.05


@dataclass(frozen=True)
class _Outcome:
    status: Status
    gap: float | None
    interval: int | None = None


@dataclass
class _Alone:
    """One interval solved by itself: its best objective (per hour, tie-broken), the best bound
    proven under it, and the last time limit it was given."""

    value: float
    bound: float
    limit_s: float | None
    values: dict[str, float]

    @property
    def slack(self) -> float:
        return self.value - self.bound

    def merged(self, later: _Alone) -> _Alone:
        """The better incumbent of two solves of one interval, under the better bound."""
        best = later if later.value < self.value else self
        return _Alone(best.value, max(self.bound, later.bound), later.limit_s, best.values)


def _solve_alone(model: PlacementModel, options: SolveOptions, limit_s: float | None) -> _Alone | Status:
    objective = tie_broken_objective(model, model.problem.objective)
    result = run(model.prob, objective, options, limit_s)
    if result.status in ("infeasible", "no_solution"):
        return result.status
    values = {variable.name: variable.varValue or 0.0 for variable in model.prob.variables()}
    value = pulp.value(objective) or 0.0
    bound = float("-inf") if result.gap is None else value - abs(value) * result.gap
    return _Alone(value, bound, limit_s, values)


def _solve_intervals(built: _Built, options: SolveOptions, phase_end_s: float | None) -> list[_Alone | None] | int:
    """Every interval alone, then the least proven again with more time; the index of one proven
    infeasible (dropping the coupling only adds schedules, so the window is infeasible too)."""
    alone: list[_Alone | None] = []
    for position, model in enumerate(built.models):
        limit = None if phase_end_s is None else max(min((phase_end_s - time.monotonic()) / (len(built.models) - position), FIRST_TRY_S), MIN_TRY_S)
        solved = _solve_alone(model, options, limit)
        if solved == "infeasible":
            return position
        alone.append(solved if isinstance(solved, _Alone) else None)
    while phase_end_s is not None:
        unproven = [(t, a) for t, a in enumerate(alone) if a is None or a.slack > options.gap_rel * abs(a.value)]
        done = [a for a in alone if a is not None]
        if not unproven or (len(done) == len(alone) and sum(a.slack for a in done) <= options.gap_rel * sum(abs(a.value) for a in done)):
            break
        t, worst = max(unproven, key=lambda item: float("inf") if item[1] is None else item[1].slack)
        last_s = FIRST_TRY_S if worst is None or worst.limit_s is None else worst.limit_s
        limit = min(2 * last_s, phase_end_s - time.monotonic())
        if limit < MIN_TRY_S:
            break
        again = _solve_alone(built.models[t], options, limit)
        if isinstance(again, _Alone):
            alone[t] = again if worst is None else worst.merged(again)
        elif worst is not None:
            worst.limit_s = limit
    return alone


def _solve_window(built: _Built, options: SolveOptions, deadline_s: float | None, before: Mapping[ColumnKey, int] | None) -> _Outcome:
    """Each interval alone (optimizer's gap per interval); then, where rows tie the intervals or
    the starts cost more than the gap allows, the window as one model from those plans."""
    phase_end_s = None
    if deadline_s is not None:
        phase_end_s = deadline_s - (COUPLED_SHARE * (deadline_s - time.monotonic()) if built.coupled else 0.0)
    alone = _solve_intervals(built, options, phase_end_s)
    if isinstance(alone, int):
        return _Outcome("infeasible", None, alone)
    solved = [a for a in alone if a is not None]
    if len(solved) < len(alone):
        return _coupled(built, options, _left(deadline_s), None, float("-inf"))
    for a in solved:
        for name, value in a.values.items():
            built.by_name[name].varValue = value
    start = _start_values(built, before)
    for name, value in start.items():
        built.by_name[name].varValue = value
    bound = sum(built.interval_h * a.bound for a in solved)
    value = pulp.value(built.objective) or 0.0
    gap = max(value - bound, 0.0) / max(abs(value), 1e-12)
    if (not built.coupled and gap <= options.gap_rel) or (deadline_s is not None and deadline_s - time.monotonic() < MIN_WINDOW_S / 2):
        feasible = not built.coupled or _satisfied(built)
        if feasible:
            return _Outcome("optimal" if gap <= options.gap_rel else "feasible", gap)
    return _coupled(built, options, _left(deadline_s), start, bound)


def _left(deadline_s: float | None) -> float | None:
    return None if deadline_s is None else max(deadline_s - time.monotonic(), MIN_WINDOW_S / 2)


def _satisfied(built: _Built) -> bool:
    return all(constraint.valid(1e-6) for constraint in built.prob.constraints())


def _coupled(built: _Built, options: SolveOptions, limit_s: float | None, start: dict[str, float] | None, bound: float) -> _Outcome:
    """The window as one model, from the intervals' own plans where they satisfy it; the start
    is kept where the solve ends worse."""
    usable = start is not None and _satisfied(built)
    start_value = pulp.value(built.objective) if usable else None
    coupled = run(built.prob, built.objective, options, limit_s, start if usable else None)
    solved = coupled.status in ("optimal", "feasible")
    if not solved and not usable:
        return _Outcome(coupled.status, None)
    value = (pulp.value(built.objective) or 0.0) if solved else float("inf")
    if coupled.gap is not None and solved:
        bound = max(bound, value * (1 - coupled.gap))
    if usable and start is not None and start_value is not None and value > start_value:
        for name, kept in start.items():
            built.by_name[name].varValue = kept
        value = start_value
    gap = max(value - bound, 0.0) / max(abs(value), 1e-12) if bound > float("-inf") else None
    return _Outcome("optimal" if gap is not None and gap <= options.gap_rel else "feasible", gap)


def _start_values(built: _Built, before: Mapping[ColumnKey, int] | None) -> dict[str, float]:
    """The intervals' own plans, with the starts and stops they imply."""
    values = {variable.name: variable.varValue or 0.0 for variable in built.prob.variables()}
    columns = [_columns(model) for model in built.models]
    for t, started in enumerate(built.starts):
        for key, s in started.items():
            now = round(columns[t][key].varValue or 0.0)
            previous = round(columns[t - 1][key].varValue or 0.0) if t else (before or {}).get(key, 0)
            values[s.name] = max(now - previous, 0)
            stopped = built.stops[t].get(key)
            if stopped is not None:
                values[stopped.name] = max(previous - now, 0)
    return values


def _kept_value(built: _Built, kept: int, problem: ScheduleProblem) -> float:
    """The primary objective of the first `kept` intervals of a window, starts included."""
    value = 0.0
    for t in range(kept):
        model = built.models[t]
        interval = model.problem
        value += problem.interval_h * (pulp.value(model.objectives[interval.objective]) or 0.0)
        for key, s in built.starts[t].items():
            value += start_charge(interval, key[0], key[1], problem.reconfiguration.start_it_j) * round(s.varValue or 0.0)
    return value
