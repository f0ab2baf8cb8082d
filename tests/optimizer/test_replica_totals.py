"""Demand rows over replica totals (#14): the whole model's child solves an exact reformulation,
the same optimum column for column, and every plan it sends is a plan of the model it was given."""

from __future__ import annotations

import random
from dataclasses import replace

import highspy
import numpy as np
import pytest
from scipy.sparse import csc_matrix

from optimizer.child_solve import feasible_start, highs_lp, model_matrix
from optimizer.formulation import build_model
from optimizer.highs import pulp_arrays
from optimizer.problem import PlanProblem
from optimizer.replica_totals import member_sums, with_totals
from tests.optimizer.test_child_solve import _random_problem


def _arrays(rows: list[list[float]], lower: list[float], upper: list[float], integer: list[bool]) -> dict:
    dense = np.array(rows, dtype=float)
    packed = csc_matrix(dense)
    return {
        "num_col": dense.shape[1], "num_row": dense.shape[0], "sense": 1, "offset": 0.0,
        "col_cost": np.arange(1.0, dense.shape[1] + 1), "col_lower": np.zeros(dense.shape[1]), "col_upper": np.full(dense.shape[1], 5.0),
        "row_lower": np.array(lower, dtype=float), "row_upper": np.array(upper, dtype=float), "format": 1,
        "start": packed.indptr.astype(np.int32), "index": packed.indices.astype(np.int32), "value": packed.data,
        "integrality": np.array(integer, dtype=np.int8),
    }  # fmt: skip


def _dense(arrays: dict) -> np.ndarray:
    return model_matrix(arrays).toarray()


def test_a_covering_row_reads_one_total_per_coefficient_tied_to_its_members() -> None:
    inf = np.inf
    # row 0 covers with columns 0, 1 (tokens/s 3) and 2 (tokens/s 5) and 3 (tokens/s 3);
    # row 1, a budget (upper bound), is left as it is
    arrays = _arrays([[3, 3, 5, 3], [2, 1, 4, 1]], lower=[7, -inf], upper=[inf, 6], integer=[True] * 4)
    arrays["col_upper"] = np.array([2.0, 4.0, 5.0, 1.0])
    reformulated = with_totals(arrays)
    dense = _dense(reformulated)
    assert reformulated["num_col"] == 5 and reformulated["num_row"] == 3
    # the demand row: column 2 alone keeps its entry, the three of tokens/s 3 read the total
    assert dense[0].tolist() == [0, 0, 5, 0, 3]
    assert dense[1].tolist() == [2, 1, 4, 1, 0]
    assert dense[2].tolist() == [1, 1, 0, 1, -1]
    assert (reformulated["row_lower"][2], reformulated["row_upper"][2]) == (0.0, 0.0)
    assert reformulated["col_upper"][4] == 7.0 and reformulated["col_cost"][4] == 0.0
    assert reformulated["integrality"][4] == 1
    # the original columns keep their places and figures
    for field in ("col_cost", "col_lower", "col_upper", "integrality"):
        assert np.array_equal(reformulated[field][:4], arrays[field])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_plan_of_the_model_with_its_member_sums_is_a_plan_of_the_reformulation(seed: int) -> None:
    """Plans found beside reach the child in the model's columns; with each total the sum of
    its members they meet every row of the reformulation, at the same cost."""
    model = build_model(replace(_random_problem(seed), share_replicas=False))
    model.prob.setObjective(model.objectives["energy"])
    arrays, _ = pulp_arrays(model.prob)
    reformulated = with_totals(arrays)
    assert reformulated["num_col"] > arrays["num_col"]
    _, plan = _optimum(arrays, "on")
    extended = np.concatenate([plan, member_sums(reformulated, arrays) @ plan])
    assert feasible_start(reformulated, (np.arange(reformulated["num_col"]), extended))
    assert reformulated["col_cost"] @ extended == pytest.approx(arrays["col_cost"] @ plan)
    # a total off by one replica breaks its link row
    extended[-1] += 1
    assert not feasible_start(reformulated, (np.arange(reformulated["num_col"]), extended))


def test_rows_a_total_cannot_hold_are_left_alone() -> None:
    inf = np.inf
    # a covering row with a continuous column, an equality, and a covering row whose
    # coefficients all differ: nothing to rewrite
    arrays = _arrays([[2, 2, 0], [1, 1, 1], [0, 1, 3]], lower=[4, 2, 1], upper=[inf, 2, inf], integer=[True, False, True])
    assert with_totals(arrays) is arrays
    arrays["integrality"] = np.array([True, True, True], dtype=np.int8)
    arrays["row_lower"][0] = -inf  # row 0 no longer covers
    assert with_totals(arrays) is arrays


def _solved(arrays: dict, presolve: str) -> highspy.Highs:
    highs = highspy.Highs()
    # one thread, as every solve of the project: HiGHS's thread scheduler is process-wide, and
    # one started on two threads refuses later solves on one
    for name, value in (("output_flag", False), ("threads", 1), ("presolve", presolve), ("mip_rel_gap", 0.0)):
        highs.setOptionValue(name, value)
    highs.passModel(highs_lp(highspy, arrays))
    highs.run()
    return highs


def _optimum(arrays: dict, presolve: str) -> tuple[float, np.ndarray]:
    highs = _solved(arrays, presolve)
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return highs.getInfo().objective_function_value, np.array(highs.getSolution().col_value)


@pytest.mark.parametrize("seed", range(6))
def test_the_reformulation_has_the_same_optimum_and_its_plans_are_plans_of_the_model(seed: int) -> None:
    # replicas of their own per workload: shared groups cover demand with continuous loads
    problem: PlanProblem = replace(_random_problem(seed), share_replicas=False)
    model = build_model(problem)
    model.prob.setObjective(model.objectives["energy"])
    arrays, _ = pulp_arrays(model.prob)
    reformulated = with_totals(arrays)
    assert reformulated is not arrays
    assert reformulated["num_col"] > arrays["num_col"]
    expected, _ = _optimum(arrays, "on")
    found, values = _optimum(reformulated, "off")
    assert found == pytest.approx(expected, rel=1e-9, abs=1e-6)
    plan = values[: arrays["num_col"]]
    assert feasible_start(arrays, (np.arange(arrays["num_col"]), plan))
    assert float(arrays["col_cost"] @ plan) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_the_binding_fleets_relaxation_is_unchanged(binding_fleet: PlanProblem) -> None:
    model = build_model(binding_fleet)
    model.prob.setObjective(model.objectives["energy"])
    arrays, _ = pulp_arrays(model.prob)
    reformulated = with_totals(arrays)
    # one total per candidate served at several sites, each demand row now over the totals
    assert reformulated["num_row"] - arrays["num_row"] == reformulated["num_col"] - arrays["num_col"] > 500
    relaxed = {**arrays, "integrality": np.zeros(arrays["num_col"], dtype=np.int8)}
    relaxed_totals = {**reformulated, "integrality": np.zeros(reformulated["num_col"], dtype=np.int8)}
    assert _optimum(relaxed_totals, "off")[0] == pytest.approx(_optimum(relaxed, "off")[0], rel=1e-7)


def test_a_random_integer_cover_keeps_its_optimum() -> None:
    rng = random.Random(7)
    for _ in range(20):
        columns = rng.randint(3, 8)
        coefficients = [float(rng.choice([2, 3, 5])) for _ in range(columns)]
        budget = [float(rng.randint(1, 4)) for _ in range(columns)]
        arrays = _arrays([coefficients, budget], lower=[rng.randint(5, 20), -np.inf], upper=[np.inf, rng.randint(10, 30)], integer=[True] * columns)
        arrays["col_cost"] = np.array([float(rng.randint(1, 9)) for _ in range(columns)])
        highs = _solved(arrays, "on")
        status = highs.getModelStatus()
        other = _solved(with_totals(arrays), "off")
        assert other.getModelStatus() == status
        if status == highspy.HighsModelStatus.kOptimal:
            assert other.getInfo().objective_function_value == pytest.approx(highs.getInfo().objective_function_value, abs=1e-6)
