"""Where site power budgets bind (#14): the start is found and checked, a start reaches HiGHS as a
cutoff with presolve on, and a time limit never turns a feasible problem into "infeasible".

The fleet (tests/optimizer/conftest.py) is benchmarks/plan_scaling.py's L generator (synthetic
roofline figures, not measurements) with every budget at 1/0.9 of the least at which its LP
relaxation is feasible: 31 of its 40 budget rows are then tight in the relaxation."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pulp
import pytest

from optimizer import highs
from optimizer.child_solve import feasible_start, solve_here
from optimizer.formulation import PlacementModel, build_model
from optimizer.metrics import summarize
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.solve import solve
from optimizer.start import _coefficients, _floor_state, _greedy_cover, _Option, _options, _priced, _relaxation, _Rounded, lp_rounding_start
from tests.optimizer.factories import held_arrays

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from plan_scaling import SIZES, build_problem  # the benchmark's own generator


def _arrays_and_start(model: PlacementModel, values: dict[str, float]) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    model.prob.setObjective(model.objectives[model.problem.objective])
    solver = pulp.HiGHS(msg=False)
    solver.createAndConfigureSolver(model.prob)
    solver.buildSolverModel(model.prob)
    arrays = held_arrays(model.prob.solverModel)
    columns = {var.name: var.index for var in model.prob.variables()}
    named = [(columns[name], value) for name, value in values.items() if name in columns]
    return arrays, (np.array([i for i, _ in named], dtype=np.int32), np.array([v for _, v in named]))


def _relaxed(fleet: PlanProblem) -> tuple[PlacementModel, pulp.LpAffineExpression, _Rounded, list[_Option]]:
    """The fleet's model, its energy objective, its LP relaxation and the start's options."""
    model = build_model(fleet)
    objective = model.objectives["energy"]
    rounded = _relaxation(model, objective)
    assert rounded is not None
    return model, objective, rounded, _options(model)


def test_the_start_is_found_where_the_rounded_relaxation_leaves_no_room(binding_fleet: PlanProblem) -> None:
    model, objective, rounded, options = _relaxed(binding_fleet)
    # the rounded-down relaxation's cover alone finds nothing here (the start before #14)
    floor = _floor_state(model, options, rounded.counts, rounded.loads)
    assert floor is not None and _greedy_cover(model, _coefficients(objective), options, floor) is None
    start = lp_rounding_start(model, objective).values
    assert start is not None
    arrays, packed = _arrays_and_start(model, start)
    assert feasible_start(arrays, packed)
    # a start a row rejects is seen: one replica more than a site's budget holds
    broken = packed[1].copy()
    broken[np.argmax(broken)] += 50
    assert not feasible_start(arrays, (packed[0], broken))


def test_the_start_is_the_cheapest_cover_and_the_budgets_prices_find_a_cheaper_one(binding_fleet: PlanProblem) -> None:
    model, objective, rounded, options = _relaxed(binding_fleet)
    coefficient = _coefficients(objective)
    # a tight budget or inventory has a price: no column's use of them is worth less than
    # nothing, many cost more
    assert all(price >= -1e-9 for price in rounded.prices.values())
    assert sum(price > 1e-6 for price in rounded.prices.values()) > 100
    nothing = _floor_state(model, options, {}, {})
    assert nothing is not None
    covers = {
        (priced, largest_first): _greedy_cover(model, _priced(coefficient, rounded.prices) if priced else coefficient, options, nothing, largest_first)
        for priced in (False, True)
        for largest_first in (False, True)
    }
    assert not any(nothing.counts.values())  # each cover works on a copy of the state it is given

    def cost(values: dict[str, float] | None) -> float:
        return np.inf if values is None else sum(coefficient.get(name, 0.0) * value for name, value in values.items())

    start = lp_rounding_start(model, objective).values
    assert cost(start) == pytest.approx(min(cost(values) for values in covers.values()))
    # on this fleet the cover at the relaxation's prices is 2.56 % above the LP bound, the one at
    # the objective's own 4.46 % (2026-12-08)
    assert cost(covers[(True, True)]) < cost(covers[(False, True)])


def test_a_feasible_fleet_with_a_tiny_limit_is_never_called_infeasible(binding_fleet: PlanProblem) -> None:
    for warm_start in (True, False):
        solved = solve(binding_fleet, SolveOptions(time_limit_s=0.01, warm_start=warm_start, tie_break=False))
        assert solved.status != "infeasible"
        if warm_start:  # the checked start is kept when the solver finds nothing better in time
            assert solved.has_solution and solved.groups


def test_a_limit_the_start_used_up_returns_the_start_without_starting_a_child(binding_fleet: PlanProblem, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child takes about 0.5 s to start; started after the deadline it made a 2 s limit 2.4 s."""
    children: list[float] = []
    started = highs.solve_in_child

    def counted(*args: Any, **kwargs: Any) -> Any:
        children.append(args[4])
        return started(*args, **kwargs)

    monkeypatch.setattr(highs, "solve_in_child", counted)
    used_up = solve(binding_fleet, SolveOptions(time_limit_s=0.01, tie_break=False))
    assert children == []
    assert used_up.status == "feasible" and used_up.gap is not None and 0 < used_up.gap < 0.1
    assert summarize(binding_fleet, used_up.groups).facility_power_w == pytest.approx(used_up.objective_value, rel=1e-9)
    # with time left after the start, the child runs as before
    solve(binding_fleet, SolveOptions(time_limit_s=2.9, tie_break=False))
    assert len(children) == 1


def _knapsack(values: list[float], weights: list[float], capacity: float) -> highspy.Highs:
    """min -value.x s.t. weight.x <= capacity, x integer in [0, 3]."""
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    for _ in values:
        highs.addVar(0, 3)
    count = len(values)
    highs.changeColsCost(count, np.arange(count, dtype=np.int32), -np.array(values))
    highs.changeColsIntegrality(count, np.arange(count, dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * count))
    highs.addRow(-highspy.kHighsInf, capacity, count, np.arange(count, dtype=np.int32), np.array(weights))
    return highs


def test_a_start_as_cutoff_gives_the_optimum_whether_or_not_the_start_is_it() -> None:
    values, weights = [10.0, 13.0, 7.0, 8.0], [4.0, 6.0, 3.0, 4.0]
    # enumerated: the best of 4^4 points within capacity 17
    grid = np.array(np.meshgrid(*[range(4)] * 4)).reshape(4, -1).T
    feasible = grid[grid @ np.array(weights) <= 17]
    best = -max(feasible @ np.array(values))
    best_point = feasible[np.argmax(feasible @ np.array(values))].astype(float)
    indices = np.arange(4, dtype=np.int32)
    for start_values in (best_point, np.array([1.0, 0.0, 0.0, 0.0])):
        start_objective = -float(np.array(values) @ start_values)
        result = solve_here(_knapsack(values, weights, 17.0), (indices, start_values), start_objective)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(best)
        assert result.values is not None and -float(np.array(values) @ np.round(result.values)) == pytest.approx(best)
        assert result.gap == pytest.approx(0.0, abs=1e-9)


def test_a_solve_stopped_at_its_gap_keeps_a_plan_no_worse_than_its_start() -> None:
    """HiGHS stops at its gap only against an incumbent of its own, so the start's gap stops it by
    interrupt; HiGHS can then hold a point far above the cutoff, which must not replace the start."""
    fleet, _, _ = build_problem(SIZES["S"], seed=1)
    model = build_model(fleet)
    start = lp_rounding_start(model, model.objectives["energy"]).values
    assert start is not None
    start_objective = sum(coefficient * start.get(var.name, 0.0) for var, coefficient in model.objectives["energy"].items())
    solved = solve(fleet, SolveOptions(time_limit_s=30, gap_rel=0.005, tie_break=False))
    assert solved.status == "optimal" and solved.gap is not None and solved.gap <= 0.005
    assert solved.objective_value is not None and solved.objective_value <= start_objective * (1 + 1e-9)
    assert summarize(fleet, solved.groups).facility_power_w == pytest.approx(solved.objective_value, rel=1e-9)


def test_a_start_from_a_plan_without_sharing_puts_no_negative_load_on_shared_replicas() -> None:
    """The shared solve starts from the plan without sharing; a workload its own replicas already
    covered once got a negative load on a shared group (caught by the start's check, #14)."""
    fleet, _, _ = build_problem(SIZES["S"], seed=1, per_model=3, mixed_lengths=True)
    alone = solve(replace(fleet, share_replicas=False), SolveOptions(time_limit_s=3, gap_rel=0.005, tie_break=False))
    assert alone.has_solution
    model = build_model(fleet)
    start = lp_rounding_start(model, model.objectives["energy"], alone.groups)
    assert start.values is not None and start.lower_bound is not None
    assert min(start.values.values()) >= 0.0
    arrays, packed = _arrays_and_start(model, start.values)
    assert feasible_start(arrays, packed)
    assert float(arrays["col_cost"][packed[0]] @ packed[1]) >= start.lower_bound
