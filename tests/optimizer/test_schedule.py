"""Schedules: every schedule of small cases enumerated, the solver's is the best; rules hold;
the horizon's figures, recomputed from the groups, equal the solver's objective."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from optimizer.candidates import configuration_id
from optimizer.horizon import JOULES_PER_KWH, horizon_figures, running
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.replica_groups import replica_terms
from optimizer.schedule import Reconfiguration, ScheduleProblem, ScheduleSolution, solve_schedule
from tests.optimizer.factories import candidate, point, problem, site, workload

EXACT = SolveOptions(gap_rel=0.0)
IDLE_W = {"A": 60.0, "B": 90.0}


def _case(seed: int, intervals: int = 2) -> ScheduleProblem:
    """Two candidates of one workload at one site; demand, budget and carbon change by the interval."""
    rng = np.random.default_rng(seed)
    first = point("A", tok_s=float(rng.uniform(300, 900)), power_w=float(rng.uniform(250, 500)), load=8, measurement_id=1)
    second = point("B", tok_s=float(rng.uniform(800, 2000)), power_w=float(rng.uniform(450, 900)), load=32, measurement_id=2)
    base = problem([workload("w", 1000.0)], [candidate("w", first), candidate("w", second)], [site("s", 10.0, {"A": 4, "B": 3})])
    steps = []
    for _ in range(intervals):
        demand = float(rng.uniform(200, 2400))
        budget_w = float(rng.uniform(2500, 6000))
        carbon = float(rng.uniform(50, 500))
        sites = (replace(base.sites[0], power_budget_w=budget_w, carbon_g_per_kwh=carbon),)
        steps.append(replace(base, workloads=(replace(base.workloads[0], demand_tok_s=demand),), sites=sites))
    start_j = {configuration_id(c): float(rng.uniform(1e5, 4e6)) for c in base.candidates}
    return ScheduleProblem(tuple(steps), 0.5, Reconfiguration(start_j))


def _brute_force(schedule: ScheduleProblem) -> float | None:
    """The least objective over every replica vector in every interval (starts and rules included;
    the first interval against the initial replicas where there are)."""
    rules = schedule.reconfiguration
    candidates = schedule.intervals[0].candidates
    initial = None if schedule.initial is None else tuple(schedule.initial.get((f"{c.workload}|{c.id}", "s"), 0) for c in candidates)
    ranges = [range(schedule.intervals[0].sites[0].inventory[c.hardware] + 1) for c in candidates]
    best = None
    for counts in itertools.product(*[list(itertools.product(*ranges))] * len(schedule.intervals)):
        value = 0.0
        feasible = True
        for t, (interval, now) in enumerate(zip(schedule.intervals, counts, strict=True)):
            value += schedule.interval_h * _interval_value(interval, now)
            if _interval_value(interval, now) == float("inf"):
                feasible = False
                break
            before = counts[t - 1] if t else initial
            if before is not None:
                site = interval.sites[0]
                for c, n, m in zip(candidates, now, before, strict=True):
                    kwh = rules.start_it_j[configuration_id(c)] * site.pue / JOULES_PER_KWH
                    per_start = {"energy": kwh * 1000, "carbon": kwh * (site.carbon_g_per_kwh or 0.0), "cost": kwh * (site.usd_per_kwh or 0.0)}
                    value += max(n - m, 0) * per_start[interval.objective]
                changes = sum(abs(n - m) for n, m in zip(now, before, strict=True))
                if rules.max_changes_per_site is not None and changes > rules.max_changes_per_site:
                    feasible = False
            if rules.min_up_intervals > 1:
                history = ([initial] if initial is not None else [None]) + list(counts)
                for k in range(len(candidates)):
                    window = range(max(0, t - rules.min_up_intervals + 1), t + 1)
                    started = [max(counts[tau][k] - history[tau][k], 0) for tau in window if history[tau] is not None]
                    if sum(started) > now[k]:
                        feasible = False
        if feasible:
            best = value if best is None else min(best, value)
    return best


def _interval_value(interval: PlanProblem, counts: tuple[int, ...]) -> float:
    site = interval.sites[0]
    gpus: dict[str, int] = {}
    capacity = peak = value = 0.0
    for c, n in zip(interval.candidates, counts, strict=True):
        gpus[c.hardware] = gpus.get(c.hardware, 0) + n
        capacity += n * interval.max_utilization * c.tok_s
        peak += n * site.pue * c.peak_power_w
        value += n * replica_terms(interval, c, site)[interval.objective]
    fits = all(used <= site.inventory[hw] for hw, used in gpus.items()) and peak <= site.power_budget_w + 1e-9
    return value if fits and capacity >= interval.workloads[0].demand_tok_s - 1e-9 else float("inf")


def _matches_brute_force(case: ScheduleProblem) -> ScheduleSolution | None:
    """The solver's schedule where the enumeration finds one, at the enumeration's objective; None
    (and no schedule from the solver either) where it finds none."""
    expected = _brute_force(case)
    solved = solve_schedule(case, EXACT)
    if expected is None:
        assert solved.status in ("infeasible", "no_solution")
        return None
    assert solved.has_solution
    assert solved.objective_value == pytest.approx(expected, rel=1e-6)
    return solved


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("objective", ["energy", "carbon"])
def test_two_intervals_match_brute_force(seed: int, objective: str) -> None:
    case = _case(seed)
    case = replace(case, intervals=tuple(replace(p, objective=objective) for p in case.intervals))
    expected = _brute_force(case)
    solved = solve_schedule(case, EXACT)
    if expected is None:
        assert solved.status == "infeasible"
        return
    assert solved.status == "optimal"
    assert solved.objective_value == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_rules_match_brute_force(seed: int) -> None:
    """Three intervals, at most one change per interval, a started replica up for two intervals."""
    case = _case(100 + seed, intervals=3)
    case = replace(case, reconfiguration=replace(case.reconfiguration, max_changes_per_site=1, min_up_intervals=2))
    solved = _matches_brute_force(case)
    if solved is None:
        return
    counts = [running(groups) for groups in solved.intervals]
    for before, now in itertools.pairwise(counts):
        assert sum(abs(now.get(k, 0) - before.get(k, 0)) for k in set(now) | set(before)) <= 1


def test_an_interval_that_cannot_be_served_is_named() -> None:
    case = _case(3, intervals=3)
    starved = replace(case.intervals[1], sites=(replace(case.intervals[1].sites[0], power_budget_w=100.0),))
    case = replace(case, intervals=(case.intervals[0], starved, case.intervals[2]))
    solved = solve_schedule(case, EXACT)
    assert solved.status == "infeasible"
    assert solved.infeasible_interval == 1


def test_figures_recomputed_from_groups_equal_the_objective() -> None:
    """Energy objective: the horizon's kWh from the groups (metrics and starts) is the solver's Wh."""
    for seed in range(4):
        case = _case(200 + seed, intervals=4)
        solved = solve_schedule(case, EXACT)
        if not solved.has_solution:
            continue
        figures = horizon_figures(case.intervals, solved.intervals, case.interval_h, case.reconfiguration.start_it_j, IDLE_W)
        assert figures.energy_kwh * 1000 == pytest.approx(solved.objective_value, rel=1e-9)
        assert figures.load_scaled_energy_kwh <= figures.energy_kwh + 1e-9
        for interval, groups in zip(case.intervals, solved.intervals, strict=True):
            served = sum(g.tok_s for g in groups)
            assert served == pytest.approx(interval.workloads[0].demand_tok_s, rel=1e-9)


def test_rolling_windows_give_a_schedule_no_better_than_the_whole() -> None:
    case = _case(7, intervals=4)
    whole = solve_schedule(case, EXACT)
    rolled = solve_schedule(case, EXACT, window=1)
    assert whole.has_solution and rolled.has_solution
    assert rolled.windows == 4
    assert rolled.status == "feasible"
    assert rolled.objective_value >= whole.objective_value - 1e-6
    figures = horizon_figures(case.intervals, rolled.intervals, case.interval_h, case.reconfiguration.start_it_j, IDLE_W)
    assert figures.energy_kwh * 1000 == pytest.approx(rolled.objective_value, rel=1e-9)


def test_a_lookahead_keeps_only_each_windows_own_intervals() -> None:
    case = _case(11, intervals=5)
    rolled = solve_schedule(case, EXACT, window=2, lookahead=2)
    assert rolled.has_solution and rolled.windows == 3 and len(rolled.intervals) == 5
    for interval, groups in zip(case.intervals, rolled.intervals, strict=True):
        assert sum(g.tok_s for g in groups) == pytest.approx(interval.workloads[0].demand_tok_s, rel=1e-9)
    figures = horizon_figures(case.intervals, rolled.intervals, case.interval_h, case.reconfiguration.start_it_j, IDLE_W)
    assert figures.energy_kwh * 1000 == pytest.approx(rolled.objective_value, rel=1e-9)


def test_progress_hears_of_every_interval_solved() -> None:
    from optimizer.schedule import windows_of

    case = _case(12, intervals=9)
    heard: list[int] = []
    solved = solve_schedule(case, EXACT, window=4, lookahead=1, progress=heard.append)
    assert solved.has_solution
    assert sum(heard) == sum(last - first for first, _, last in windows_of(9, 4, 1)) == 11


@pytest.mark.parametrize("seed", range(6))
def test_the_first_interval_pays_for_what_it_starts_beyond_todays_replicas(seed: int) -> None:
    case = _case(300 + seed, intervals=3)
    rng = np.random.default_rng(seed)
    initial = {(f"{c.workload}|{c.id}", "s"): int(rng.integers(0, 3)) for c in case.intervals[0].candidates}
    for rules in (case.reconfiguration, replace(case.reconfiguration, max_changes_per_site=2, min_up_intervals=2)):
        started_from = replace(case, initial=initial, reconfiguration=rules)
        _matches_brute_force(started_from)
