"""The model reaches HiGHS as arrays built in bulk (optimizer.highs.pulp_arrays): the same model
PuLP's own hand-over, a column and a row at a time, gives HiGHS."""

from __future__ import annotations

import numpy as np
import pulp
import pytest

from optimizer.child_solve import model_matrix
from optimizer.formulation import build_model
from optimizer.highs import pulp_arrays, relaxation_solver
from optimizer.problem import PlanProblem
from tests.optimizer.factories import candidate, held_arrays, point, problem, site, workload


def _shared_problem() -> PlanProblem:
    """Two workloads of one model measured in one configuration (a shared group with load
    columns and a z column), beside a configuration of one of them alone."""
    return problem(
        [workload("a", demand=900), workload("b", demand=700)],
        [
            candidate("a", point("A", tok_s=1000, power_w=400, load=16)),
            candidate("b", point("A", tok_s=800, power_w=450, load=16)),
            candidate("a", point("B", tok_s=2000, power_w=700, load=32, gpus=2, measurement_id=1)),
        ],
        [site("s", 3, {"A": 4, "B": 2}), site("t", 2, {"A": 2})],
    )


@pytest.mark.parametrize("fleet", ["shared", "binding"])
def test_the_arrays_are_the_model_pulps_own_hand_over_gives_highs(fleet: str, binding_fleet: PlanProblem) -> None:
    planned = _shared_problem() if fleet == "shared" else binding_fleet
    model = build_model(planned)
    model.prob.setObjective(model.objectives[planned.objective])
    solver = pulp.HiGHS(msg=False)
    solver.createAndConfigureSolver(model.prob)
    solver.buildSolverModel(model.prob)
    expected = held_arrays(model.prob.solverModel)
    arrays, columns = pulp_arrays(model.prob)
    # PuLP's columns in PuLP's order (by name): HiGHS's search depends on it
    # (by identity: PuLP's == on columns builds a constraint, which is always true)
    assert [id(column) for column in columns] == [id(column) for column in model.prob.variables()]
    assert [column.index for column in columns] == list(range(expected["num_col"]))
    assert (arrays["num_col"], arrays["num_row"]) == (expected["num_col"], expected["num_row"])
    for key in ("col_cost", "col_lower", "col_upper", "row_lower", "row_upper", "integrality"):
        np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)
    assert (model_matrix(arrays) != model_matrix(expected)).nnz == 0
    assert arrays["integrality"].sum() == len(model.replicas) + len(model.groups) > 0
    if fleet == "shared":
        assert model.loads and model.alone


def test_a_maximisation_is_handed_over_negated_with_its_constant_and_without_zero_entries() -> None:
    prob = pulp.LpProblem("tiny", pulp.LpMaximize)
    x = prob.add_variable("x", lowBound=0, upBound=10, cat="Integer")
    y = prob.add_variable("y", lowBound=0)
    prob += 3 * x + 2 * y + 5
    prob += x + y <= 4.5, "total"
    prob += pulp.LpAffineExpression([(x, 1.0), (y, 0.0)]) <= 3, "x_alone"
    arrays, columns = pulp_arrays(prob, mip=False)
    assert [column.name for column in columns] == ["x", "y"]
    np.testing.assert_array_equal(arrays["col_cost"], [-3.0, -2.0])
    assert arrays["offset"] == -5.0
    assert len(arrays["value"]) == 3
    # the relaxation drops integrality: x = 3, y = 1.5 and the objective counts the constant
    assert arrays["integrality"].tolist() == [0, 0]
    prob.solve(relaxation_solver())
    assert prob.sol_status == pulp.LpSolutionOptimal
    assert (x.varValue, y.varValue) == pytest.approx((3.0, 1.5))
    assert pulp.value(prob.objective) == pytest.approx(17.0)
    assert pulp_arrays(prob)[0]["integrality"].tolist() == [1, 0]


def test_an_infeasible_relaxation_says_so_and_leaves_no_values() -> None:
    prob = pulp.LpProblem("none", pulp.LpMinimize)
    x = prob.add_variable("x", lowBound=0, upBound=1)
    prob += x
    prob += x >= 2, "beyond_the_bound"
    prob.solve(relaxation_solver())
    assert prob.sol_status == pulp.LpSolutionInfeasible
    assert x.varValue is None
