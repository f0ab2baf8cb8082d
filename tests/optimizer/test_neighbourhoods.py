"""The neighbourhood search beside the whole model (#14): every pair of workloads is freed once a
pass, in an order the seed fixes, and from the rounding start of the binding fleet it finds
better plans, each a point of the whole model."""

from __future__ import annotations

import itertools
import time

import numpy as np
from scipy.sparse import csc_matrix

from optimizer import largest_batches
from optimizer.child_solve import feasible_start, model_matrix
from optimizer.formulation import build_model
from optimizer.neighbourhoods import FREED_WORKLOADS, interacting_first, pairs, search
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.start import lp_rounding_start
from tests.optimizer.test_binding_budgets import _arrays_and_start


def test_a_pass_frees_every_pair_once_in_the_seeds_order() -> None:
    drawn = pairs(6, seed=3)
    assert FREED_WORKLOADS == 2
    assert sorted(drawn) == list(itertools.combinations(range(6), 2))
    assert drawn == pairs(6, seed=3) and drawn != pairs(6, seed=4)
    assert pairs(1, seed=0) == [(0,)]


def test_pairs_whose_plans_share_a_site_go_first() -> None:
    # rows 0-2: each workload's demand; row 3: a site both workload 0 and workload 2 use; row 4:
    # a site workload 1 alone uses (its column 3 there is empty in the plan)
    matrix = csc_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [1, 0, 1, 1], [0, 1, 0, 0]], dtype=float))
    columns = (np.array([0]), np.array([1, 3]), np.array([2]))
    plan = np.array([1.0, 1.0, 1.0, 0.0])
    for seed in range(5):
        assert interacting_first(matrix, columns, plan, seed)[0] == (0, 2)
    # with workload 1's column 3 in the plan, every pair shares row 3 alone: the seed's order stands
    for seed in range(5):
        assert interacting_first(matrix, columns, np.ones(4), seed) == pairs(3, seed)


def test_the_search_improves_the_rounding_start_of_a_binding_fleet_with_checked_plans(binding_fleet: PlanProblem) -> None:
    model = build_model(binding_fleet)
    objective = model.objectives["energy"]
    start = lp_rounding_start(model, objective)
    assert start.values is not None
    whole, packed = _arrays_and_start(model, start.values)
    dense = np.zeros(whole["num_col"])
    dense[packed[0]] = packed[1]
    restricted = largest_batches.restricted_problem(binding_fleet, len(model.replicas))
    assert restricted is not None
    beside = largest_batches.beside_model(restricted, model, SolveOptions(tie_break=False), 1.0)
    job = beside.job(whole, {var.name: var.index for var in model.prob.variables()}, dense, 0, time.monotonic() + 4.0)
    offered: list[float] = []

    def offer(values: np.ndarray) -> bool:
        assert feasible_start(whole, (np.arange(whole["num_col"]), values))
        offered.append(float(whole["col_cost"] @ values))
        return True

    search(job, model_matrix(whole).tocsc(), dense, offer)
    first = float(whole["col_cost"] @ dense)
    assert offered and offered[-1] < first * (1 - 1e-3)
    assert all(later < earlier for earlier, later in zip([first, *offered], offered, strict=False))
