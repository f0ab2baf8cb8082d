"""The binding L fleet that #14's tests plan: benchmarks/plan_scaling.py's L generator
(synthetic roofline figures, not measurements) with every budget at 1/0.9 of the least at which
its LP relaxation is feasible (31 of its 40 budget rows are then tight in the relaxation)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from optimizer.problem import PlanProblem

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from binding_budgets import least_budget_scale  # the benchmark's own generator
from plan_scaling import SIZES, build_problem


@pytest.fixture(scope="session")
def binding_fleet() -> PlanProblem:
    loose, _, _ = build_problem(SIZES["L"], seed=1)
    fleet, _, _ = build_problem(SIZES["L"], seed=1, budget_scale=least_budget_scale(loose) / 0.9)
    return fleet
