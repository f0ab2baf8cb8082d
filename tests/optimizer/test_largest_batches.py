"""The largest-batch heuristic (#14): which candidates the restricted problem keeps, that its plan
reaches the whole model's columns at its cost, that the search beside sends only checked and
better plans, and that the whole model still plans a batch the restriction left out where that
batch is the optimum."""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from optimizer import largest_batches
from optimizer.child_solve import feasible_start, rebuilt_highs, run_highs
from optimizer.formulation import PlacementModel, build_model
from optimizer.neighbourhoods import run_beside
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.solve import _solve_model, solve
from optimizer.start import _relaxation
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


def _whole_arrays(model: PlacementModel) -> tuple[dict[str, Any], dict[str, int]]:
    """The whole model as HiGHS holds it, and its columns' indices by name."""
    arrays, _ = _arrays_and_start(model, {})
    return arrays, {var.name: var.index for var in model.prob.variables()}


def test_the_restricted_plan_reaches_the_whole_model_at_its_cost_and_the_bound_stays_the_whole_models(binding_fleet: PlanProblem) -> None:
    model = build_model(binding_fleet)
    restricted = largest_batches.restricted_problem(binding_fleet, len(model.replicas))
    assert restricted is not None
    options = SolveOptions(time_limit_s=3.0, gap_rel=0.005, tie_break=False)
    beside = largest_batches.beside_model(restricted, model, options, 3.0)
    whole, index_of = _whole_arrays(model)
    job = beside.job(whole, index_of, None, 0, time.monotonic() + 3.0)
    _, objective, _, values = run_highs(rebuilt_highs(beside.arrays, {**beside.options, "time_limit": 3.0}), None, None)
    assert values is not None and objective is not None
    mapped = np.zeros(whole["num_col"])
    mapped[job.whole_columns] = values[job.restricted_columns]
    assert feasible_start(whole, (np.arange(whole["num_col"]), mapped))
    # the same replicas at the same figures: the same cost in the whole model
    assert float(whole["col_cost"] @ mapped) == pytest.approx(objective, rel=1e-9)
    planned = solve(binding_fleet, SolveOptions(time_limit_s=6.0, gap_rel=0.005, tie_break=False))
    assert planned.has_solution and planned.gap is not None and planned.objective_value is not None
    # the proven bound is the whole model's: at least its LP relaxation, never the restricted
    # model's own bound (which sits above the relaxation of the whole)
    relaxation = _relaxation(model, model.objectives["energy"])
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


def _small_beside(monkeypatch: pytest.MonkeyPatch) -> tuple[PlacementModel, largest_batches.Beside]:
    """One workload asking for little, whose optimum is one small-batch replica (300 W) while
    the restriction keeps only the largest batch (700 W)."""
    points = [point("A", tok_s, power_w, peak_w=800.0, load=load, measurement_id=load)
              for load, tok_s, power_w in ((1, 90.0, 300.0), (16, 800.0, 600.0), (32, 1000.0, 700.0))]
    demand = workload(demand=60.0)
    small = problem([demand], [candidate(demand.name, p) for p in points], [site("s", 10.0, {"A": 8})])
    monkeypatch.setattr(largest_batches, "MIN_COLUMNS", 1)
    restricted = largest_batches.restricted_problem(small, len(build_model(small).replicas))
    assert restricted is not None
    model = build_model(small)
    return model, largest_batches.beside_model(restricted, model, SolveOptions(tie_break=False), 2.0)


def test_beside_sends_the_restricted_plan_then_the_neighbourhoods_better_ones_each_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    model, beside = _small_beside(monkeypatch)
    whole, index_of = _whole_arrays(model)
    sent: list[tuple[Any, ...]] = []
    run_beside(beside.job(whole, index_of, None, 0, time.monotonic() + 2.0), sent.append)
    objectives = [message[1] for message in sent]
    # the restricted plan (one replica of batch 32, 840 W with the site's PUE), then the small batch
    assert objectives[0] == pytest.approx(1.2 * 700.0) and objectives[-1] == pytest.approx(1.2 * 300.0)
    assert all(later < earlier for earlier, later in zip(objectives, objectives[1:], strict=False))
    assert all(feasible_start(whole, (np.arange(whole["num_col"]), message[2])) for message in sent)


def test_beside_sends_no_plan_that_breaks_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    model, beside = _small_beside(monkeypatch)
    whole, index_of = _whole_arrays(model)
    # a mapping that loses the restricted plan's replica: its point covers no demand
    broken = dataclasses.replace(beside, restricted_columns=beside.restricted_columns[:0], whole_names=())
    sent: list[tuple[Any, ...]] = []
    run_beside(broken.job(whole, index_of, None, 0, time.monotonic() + 2.0), sent.append)
    assert sent == []
