"""Columns left out before HiGHS sees them: which, and that no optimum changes."""

from __future__ import annotations

import random
from dataclasses import replace

import pulp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.formulation import build_model, dominated_columns
from optimizer.highs import run
from optimizer.problem import Objective, PlanProblem, SolveOptions
from tests.optimizer.factories import candidate, point, problem, site, workload


def _figures(hardware: str, tok_s: float, power_w: float, peak_w: float, index: int, gpus: int = 1):
    return candidate("w", point(hardware, tok_s=tok_s, power_w=power_w, peak_w=peak_w, load=index + 1, gpus=gpus, measurement_id=index))


def test_only_candidates_beaten_on_every_figure_are_left_out():
    best = _figures("A", 1000, 300, 400, 0)
    slower = _figures("A", 900, 300, 400, 1)
    hotter = _figures("A", 1000, 310, 400, 2)
    cooler_higher_peak = _figures("A", 1000, 290, 410, 3)
    more_gpus = _figures("A", 1000, 300, 400, 4, gpus=2)
    faster_but_hotter = _figures("A", 1100, 320, 400, 5)
    same_as_best = _figures("A", 1000, 300, 400, 6)
    other_hardware = _figures("B", 500, 600, 700, 7)
    p = problem([workload()], [best, slower, hotter, cooler_higher_peak, more_gpus, faster_but_hotter, same_as_best, other_hardware],
                [site("s0", 100, {"A": 4, "B": 4}), site("s1", 100, {"A": 4})])
    left_out = dominated_columns(p)
    assert left_out == {("w", c.id, s) for c in (slower, hotter, more_gpus, same_as_best) for s in ("s0", "s1")}
    model = build_model(p, leave_out=left_out)
    assert set(model.replicas) == {("w", c.id, s) for c in (best, cooler_higher_peak, faster_but_hotter) for s in ("s0", "s1")} | {("w", other_hardware.id, "s0")}


def test_a_site_paid_to_draw_power_keeps_every_column():
    """A negative energy price (a surplus hour) makes more power cheaper there, so no candidate
    is beaten at that site."""
    p = problem([workload()], [_figures("A", 1000, 300, 400, 0), _figures("A", 900, 350, 400, 1)],
                [site("paid", 100, {"A": 4}, usd_per_kwh=-0.05), site("plain", 100, {"A": 4})], objective="cost")
    assert {key[2] for key in dominated_columns(p)} == {"plain"}


def _optimum(p: PlanProblem, objective: Objective, leave_out: frozenset) -> float | None:
    model = build_model(p, leave_out=leave_out)
    result = run(model.prob, model.objectives[objective], SolveOptions(gap_rel=0.0), None)
    return None if result.status == "infeasible" else pulp.value(model.objectives[objective])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.integers(0, 10_000))
def test_every_objective_keeps_its_optimum(seed):
    """Small random fleets with many beaten candidates (few distinct figures), several
    workloads of one model (their shared configurations stay whole) and budgets that bind."""
    rng = random.Random(seed)
    workloads = [workload(f"w{i}", demand=rng.uniform(500, 6000)) for i in range(rng.randint(1, 3))]
    candidates = [
        candidate(w.name, point(hw, tok_s=rng.choice([800, 1500, 2500]), power_w=rng.choice([250, 400, 600]),
                                peak_w=rng.choice([650, 900]), load=j + 1, gpus=rng.choice([1, 2]), measurement_id=j))
        for w in workloads for hw in "AB" for j in range(rng.randint(1, 4))
    ]
    sites = [site(f"s{i}", budget_kw=rng.uniform(1, 8), inventory={hw: rng.randint(0, 6) for hw in "AB"}, pue=rng.uniform(1.05, 1.6),
                  carbon=rng.uniform(50, 500), usd_per_kwh=rng.uniform(0.02, 0.3)) for i in range(rng.randint(1, 3))]
    p = replace(problem(workloads, candidates, sites), share_replicas=rng.random() < 0.5)
    left_out = dominated_columns(p)
    for objective in ("energy", "cost", "carbon", "gpus"):
        whole, reduced = _optimum(p, objective, frozenset()), _optimum(p, objective, left_out)
        assert (whole is None) == (reduced is None)
        if whole is not None:
            assert reduced == pytest.approx(whole, rel=1e-7, abs=1e-7)
