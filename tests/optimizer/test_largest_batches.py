"""The largest-batch heuristic (#14): which candidates the restricted problem keeps, that its plan
is a checked start of the whole model, and that the whole model still plans a batch the
restriction left out where that batch is the optimum."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from optimizer import largest_batches
from optimizer.child_solve import feasible_start
from optimizer.formulation import build_model
from optimizer.highs import RunResult
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.solve import _solve_model, _with_beside_plan, solve
from optimizer.start import _relaxation, plan_start
from tests.optimizer.factories import candidate, point, problem, site, workload
from tests.optimizer.test_binding_budgets import _arrays_and_start


def test_each_family_of_batches_keeps_its_largest(binding_fleet: PlanProblem) -> None:
    kept = largest_batches.largest_batch_ids(binding_fleet)
    families = defaultdict(list)
    for c in binding_fleet.candidates:
        families[(c.workload, c.hardware, c.point.runtime, c.gpus_per_replica)].append(c)
    for members in families.values():
        inside = [c for c in members if (c.workload, c.id) in kept]
        outside = [c for c in members if (c.workload, c.id) not in kept]
        assert len(inside) == min(largest_batches.KEPT_BATCHES, len(members))
        assert all(binding_fleet.planned_tok_s(i) >= binding_fleet.planned_tok_s(o) for i in inside for o in outside)
    restricted = largest_batches.restricted_problem(binding_fleet, len(build_model(binding_fleet).replicas))
    assert restricted is not None and len(restricted.candidates) == len(kept) < len(binding_fleet.candidates)


def test_the_restricted_plan_is_a_checked_start_and_never_beaten_by_a_worse_answer(binding_fleet: PlanProblem) -> None:
    model = build_model(binding_fleet)
    restricted = largest_batches.restricted_problem(binding_fleet, len(model.replicas))
    assert restricted is not None
    options = SolveOptions(time_limit_s=3.0, gap_rel=0.005, tie_break=False)
    found = _solve_model(restricted, options, None)
    assert found.has_solution and found.objective_value is not None
    objective = model.objectives["energy"]
    values = plan_start(model, objective, found.groups)
    assert values is not None
    arrays, packed = _arrays_and_start(model, values)
    assert feasible_start(arrays, packed)
    # the plan keeps its cost in the whole model: the same replicas, the same figures
    as_whole = sum(coefficient * values.get(var.name, 0.0) for var, coefficient in objective.items())
    assert as_whole == pytest.approx(found.objective_value, rel=1e-9)
    planned = solve(binding_fleet, SolveOptions(time_limit_s=6.0, gap_rel=0.005, tie_break=False))
    assert planned.has_solution and planned.gap is not None and planned.objective_value is not None
    # the proven bound is the whole model's: at least its LP relaxation, never the restricted
    # model's own bound (which sits above the relaxation of the whole)
    relaxation = _relaxation(model, objective)
    assert relaxation is not None
    assert planned.objective_value * (1 - planned.gap) >= relaxation.objective * (1 - 1e-6)


def test_a_batch_left_out_of_the_restriction_is_still_planned_where_it_is_the_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    # one workload asking for little: one small-batch replica (300 W) beats one of the largest
    # batch (700 W), which the restricted problem alone would plan
    points = [point("A", tok_s, power_w, peak_w=800.0, load=load, measurement_id=load)
              for load, tok_s, power_w in ((1, 90.0, 300.0), (4, 300.0, 450.0), (16, 800.0, 600.0), (32, 1000.0, 700.0))]
    demand = workload(demand=60.0)
    small = problem([demand], [candidate(demand.name, p) for p in points], [site("s", 10.0, {"A": 8})])
    monkeypatch.setattr(largest_batches, "MIN_COLUMNS", 1)
    restricted = largest_batches.restricted_problem(small, len(build_model(small).replicas))
    assert restricted is not None and {c.point.load for c in restricted.candidates} == {32}
    assert _solve_model(restricted, SolveOptions(time_limit_s=1.0), None).objective_value == pytest.approx(1.2 * 700.0)
    planned = solve(small, SolveOptions(time_limit_s=5.0))
    assert planned.status == "optimal"
    assert [(g.replicas, g.configuration.endswith("/b1")) for g in planned.groups] == [(1, True)]
    assert planned.objective_value == pytest.approx(1.2 * 300.0)


def test_a_better_plan_from_beside_replaces_the_whole_models_with_the_whole_models_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [point("A", tok_s, power_w, peak_w=800.0, load=load, measurement_id=load)
              for load, tok_s, power_w in ((1, 90.0, 300.0), (16, 800.0, 600.0), (32, 1000.0, 700.0))]
    demand = workload(demand=60.0)
    small = problem([demand], [candidate(demand.name, p) for p in points], [site("s", 10.0, {"A": 8})])
    monkeypatch.setattr(largest_batches, "KEPT_BATCHES", 2)
    monkeypatch.setattr(largest_batches, "MIN_COLUMNS", 1)
    restricted = largest_batches.restricted_problem(small, len(build_model(small).replicas))
    assert restricted is not None
    options = SolveOptions(time_limit_s=5.0, tie_break=False)
    beside = largest_batches.beside_model(restricted, options, 5.0)
    model = build_model(small)
    objective = model.objectives["energy"]
    model.prob.setObjective(objective)
    # the whole model holds one replica of batch 32 (840 W); beside found one of batch 16 (720 W)
    for (_, candidate_id, _), n in model.replicas.items():
        n.varValue = 1.0 if candidate_id.endswith("/b32/32") else 0.0
    values = np.zeros(beside.arrays["num_col"])
    for (_, candidate_id, _), n in beside.model.replicas.items():
        values[n.index] = 1.0 if candidate_id.endswith("/b16/16") else 0.0
    result = _with_beside_plan(model, objective, options, RunResult("feasible", 0.57, 360.0, (720.0, values)), beside)
    assert result.status == "feasible" and result.dual_bound == 360.0
    assert result.gap == pytest.approx((720.0 - 360.0) / 720.0)
    assert {candidate_id: n.varValue for (_, candidate_id, _), n in model.replicas.items() if n.varValue} == {"A/b16/16": 1.0}
    # a plan from beside that costs more than the whole model's is not taken
    values[:] = 0.0
    for (_, candidate_id, _), n in beside.model.replicas.items():
        values[n.index] = 1.0 if candidate_id.endswith("/b32/32") else 0.0
    kept = RunResult("feasible", 0.5, 360.0, (840.0, values))
    assert _with_beside_plan(model, objective, options, kept, beside) is kept
