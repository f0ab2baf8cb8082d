"""Shared replicas: brute force against the solver, Mélange's own example, and what sharing keeps unchanged."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from optimizer.metrics import summarize
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.replica_groups import configurations, group_charges
from optimizer.solve import solve
from tests.optimizer.factories import candidate, point, problem, site, workload
from tests.optimizer.test_solve import brute_force, check_constraints

EXACT = SolveOptions(gap_rel=0.0)


def shared_brute_force(p: PlanProblem) -> float | None:
    """The least objective of the shared model: every vector of replica counts per (shared
    configuration, site), each with the best loads found by a linear program (scipy)."""
    configs = [c for c in configurations(p.candidates) if c.shared]
    assert all(c.shared for c in configurations(p.candidates)), "the brute force covers fully shared problems"
    slots = [(c, s) for c in configs for s in p.sites if s.inventory.get(c.hardware, 0) >= c.gpus_per_replica]
    loads = [(slot, member) for slot in range(len(slots)) for member in slots[slot][0].members]
    charges = [group_charges(p, c.members, s) for c, s in slots]
    if not loads:
        return None
    best = None
    for counts in itertools.product(*(range(s.inventory[c.hardware] // c.gpus_per_replica + 1) for c, s in slots)):
        used: dict[tuple[str, str], int] = {}
        for n, (c, s) in zip(counts, slots, strict=True):
            used[(s.name, c.hardware)] = used.get((s.name, c.hardware), 0) + n * c.gpus_per_replica
        if any(n > next(s for s in p.sites if s.name == name).inventory[hw] for (name, hw), n in used.items()):
            continue
        fixed = sum(n * ch.per_replica[p.objective] for n, ch in zip(counts, charges, strict=True))
        cost = [charges[slot].per_tok_s[(m.workload, m.id)][p.objective] for slot, m in loads]
        upper_rows, upper = [], []
        for slot, n in enumerate(counts):
            upper_rows.append([1 / (p.max_utilization * m.tok_s) if k == slot else 0.0 for k, m in loads])
            upper.append(n)
        for s in p.sites:
            peak = sum(n * ch.per_replica["facility_peak_w"] for n, ch, (_, site_) in zip(counts, charges, slots, strict=True) if site_ is s)
            upper_rows.append([charges[k].per_tok_s[(m.workload, m.id)]["facility_peak_w"] if slots[k][1] is s else 0.0 for k, m in loads])
            upper.append(s.power_budget_w - peak)
        equal_rows = [[1.0 if m.workload == w.name else 0.0 for _, m in loads] for w in p.workloads]
        result = linprog(cost, A_ub=np.array(upper_rows), b_ub=upper, A_eq=np.array(equal_rows),
                         b_eq=[w.demand_tok_s for w in p.workloads], bounds=(0, None), method="highs")
        if result.status == 0:
            value = fixed + result.fun
            best = value if best is None else min(best, value)
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    st.lists(st.tuples(st.integers(300, 3000), st.floats(0.6, 1.4), st.integers(200, 700), st.floats(0.9, 1.1)), min_size=1, max_size=2),
    st.tuples(st.integers(100, 3000), st.integers(100, 3000)),
    st.tuples(st.integers(1, 5), st.integers(0, 4), st.floats(1.0, 1.6), st.integers(2, 8)),
    st.sampled_from(["energy", "cost", "carbon"]),
)
def test_shared_solve_matches_brute_force_over_both_models(configs, demands, shape, objective):
    """Two workloads of one model, each configuration measured for both (at their own speed and
    power): the solver's plan is the better of the shared model's and the unshared model's
    optima, each found by enumeration."""
    a_gpus, b_gpus, pue, budget_kw = shape
    candidates = [
        candidate(w, point(hw, tok_s=tok_s * (ratio if w == "w1" else 1), power_w=power * (drift if w == "w1" else 1),
                           load=16, measurement_id=i))
        for i, ((tok_s, ratio, power, drift), hw) in enumerate(zip(configs, "AB", strict=False))
        for w in ("w0", "w1")
    ]
    p = problem([workload("w0", demand=demands[0]), workload("w1", demand=demands[1])], candidates,
                [site("s", budget_kw, {"A": a_gpus, "B": b_gpus}, pue=pue)], objective=objective)
    expected = [value for value in (shared_brute_force(p), brute_force(replace(p, share_replicas=False))) if value is not None]
    solution = solve(p, EXACT)
    if not expected:
        event("infeasible")
        assert solution.status == "infeasible"
        return
    event("sharing wins" if any(g.shared for g in solution.groups) else "own replicas win")
    assert solution.status == "optimal"
    assert solution.objective_value == pytest.approx(min(expected), rel=1e-6, abs=1e-6)
    check_constraints(p, solution.groups)
    assert summarize(p, solution.groups).tok_s == pytest.approx(sum(demands), rel=1e-6)


def test_two_small_workloads_share_one_replica_and_save_its_power():
    # each workload alone needs a replica at 40 % load; together they fill one
    shared = [candidate(w, point("A", tok_s=1000, power_w=500)) for w in ("w0", "w1")]
    p = problem([workload("w0", demand=320), workload("w1", demand=320)], shared, [site("s", 10, {"A": 4})])
    solution = solve(p, EXACT)
    assert [(g.replicas, g.shared, sorted(s.workload for s in g.shares)) for g in solution.groups] == [(1, True, ["w0", "w1"])]
    alone = solve(replace(p, share_replicas=False), EXACT)
    assert sum(g.replicas for g in alone.groups) == 2
    assert summarize(p, solution.groups).facility_power_w == pytest.approx(1.2 * 500)


def test_a_workload_alone_keeps_its_own_lower_power_when_sharing_would_charge_more():
    # On A, w1's requests draw 900 W and w0's 300 W; w1 also runs on B at 200 W. A shared group
    # charges capacity w0 leaves unused at the ceiling (900 W): 2 replicas for w0's 1.5 cost
    # 1.2 x (1.5 x 300 + 0.5 x 900) = 1080 W, more than w0's own 2 x 360 W plus w1 on B (240 W).
    w0 = candidate("w0", point("A", tok_s=1000, power_w=300))
    w1_a = candidate("w1", point("A", tok_s=1000, power_w=900, measurement_id=1))
    w1_b = candidate("w1", point("B", tok_s=1000, power_w=200, measurement_id=2))
    p = problem([workload("w0", demand=1200), workload("w1", demand=400)], [w0, w1_a, w1_b], [site("s", 10, {"A": 4, "B": 4})])
    solution = solve(p, EXACT)
    assert not any(g.shared for g in solution.groups)
    assert summarize(p, solution.groups).facility_power_w == pytest.approx(1.2 * (2 * 300 + 200))
    assert solution.objective_value == pytest.approx(solution.unshared.objective_value)


def test_nothing_shared_means_the_same_model_as_before():
    # one workload per model: no shared configuration, no load columns, no second solve
    ops = [point("A", tok_s=1000, power_w=400, model="m1"), point("B", tok_s=2000, power_w=700, model="m2", load=32)]
    p = problem([workload("a", model="m1"), workload("b", model="m2")],
                [candidate("a", ops[0]), candidate("b", ops[1])], [site("s", 10, {"A": 4, "B": 4})])
    solution = solve(p, EXACT)
    assert solution.unshared is None
    assert not any(g.shared for g in solution.groups)
    assert solution == replace(solve(replace(p, share_replicas=False), EXACT), build_s=solution.build_s, solve_s=solution.solve_s)


MELANGE_EXAMPLE = {
    # tyler-griggs/melange-release, melange/config/example.json: max requests/s per GPU for a
    # 2 x 2 grid of (input, output) length buckets, the bucket mix of 30 req/s, $/h per GPU
    "A10G": (1.01, [[2, 1], [5, 2]]),
    "A100-80GB": (3.67, [[20, 20], [40, 20]]),
}
MELANGE_MIX = [[0.2, 0.1], [0.5, 0.2]]
MELANGE_RATE = 30.0


def melange_problem(gpu_types: tuple[str, ...], rate: float = MELANGE_RATE) -> PlanProblem:
    """Each bucket a workload of one model; each (GPU, bucket) a candidate at the peer's rate
    (tokens/s = requests/s here: one output token per request keeps the rates as given).
    Power does not enter: the objective is cost with electricity at $0/kWh."""
    buckets = [(i, j) for i in range(2) for j in range(2)]
    workloads = [workload(f"bucket{i}{j}", demand=rate * MELANGE_MIX[i][j], tpot=None) for i, j in buckets]
    candidates = [
        candidate(f"bucket{i}{j}", point(gpu, tok_s=MELANGE_EXAMPLE[gpu][1][i][j], power_w=300.0, measurement_id=10 * i + j))
        for gpu in gpu_types for i, j in buckets
    ]
    sites = [site("cloud", budget_kw=1e6, inventory={gpu: 1000 for gpu in gpu_types}, pue=1.0, usd_per_kwh=0.0)]
    prices = {gpu: MELANGE_EXAMPLE[gpu][0] for gpu in gpu_types}
    return problem(workloads, candidates, sites, objective="cost", utilization=1.0, prices=prices)


def gpus_and_cost(p: PlanProblem) -> tuple[dict[str, int], float]:
    solution = solve(p, EXACT)
    gpus: dict[str, int] = {}
    for g in solution.groups:
        hardware = g.configuration.split("/")[1]
        gpus[hardware] = gpus.get(hardware, 0) + g.replicas
    return gpus, round(solution.objective_value, 2)


def test_melange_example_a100_only_matches_the_peer():
    assert gpus_and_cost(melange_problem(("A100-80GB",))) == ({"A100-80GB": 2}, 7.34)


def test_melange_example_both_gpus_costs_what_the_peer_finds_when_a_bucket_may_split():
    # Mélange keeps each bucket whole at slice_factor 1: 3 A10G + 1 A100, $6.70/h. Requests of
    # one bucket can go to either GPU type; its solver run on the same file with slice_factor 3
    # returns 1 A10G + 1 A100, $4.68/h, which is this plan.
    gpus, cost = gpus_and_cost(melange_problem(("A10G", "A100-80GB")))
    assert (gpus, cost) == ({"A10G": 1, "A100-80GB": 1}, 4.68)
    assert cost <= 6.70


@pytest.mark.parametrize("scale", [0.1, 0.5, 2.0, 5.0, 20.0])
def test_melange_example_at_other_rates_never_costs_more_than_whole_buckets(scale):
    """Against Mélange's whole-bucket model (each bucket on one GPU type, GPUs = ceil of the summed
    load per type), enumerated here over the 16 assignments."""
    rate = MELANGE_RATE * scale
    whole_buckets = min(
        sum(
            MELANGE_EXAMPLE[gpu][0] * -(-sum(rate * MELANGE_MIX[i][j] / MELANGE_EXAMPLE[gpu][1][i][j]
                                            for (i, j), g in zip(itertools.product(range(2), range(2)), choice, strict=True) if g == gpu) // 1)
            for gpu in MELANGE_EXAMPLE
        )
        for choice in itertools.product(MELANGE_EXAMPLE, repeat=4)
    )
    _, cost = gpus_and_cost(melange_problem(("A10G", "A100-80GB"), rate))
    assert cost <= whole_buckets + 1e-9


def test_interchangeable_workloads_solve_as_one_and_split_back_by_demand():
    """Two workloads with the same candidates and no one else on their configurations are merged
    for the solve; the plan equals the shared model's optimum and each gets its own load."""
    from optimizer.merging import interchangeable
    from optimizer.solve import _solve_model

    ops = [point("A", tok_s=1000, power_w=400, load=16), point("A", tok_s=3000, power_w=700, load=64, measurement_id=1),
           point("B", tok_s=2000, power_w=500, load=32, measurement_id=2)]
    candidates = [candidate(w, op) for w in ("w0", "w1") for op in ops]
    sites = [site("s0", 3, {"A": 3, "B": 1}), site("s1", 2, {"A": 2, "B": 2}, pue=1.4)]
    p = problem([workload("w0", demand=2300), workload("w1", demand=900)], candidates, sites)
    assert [tuple(w.name for w in members) for members in interchangeable(p)] == [("w0", "w1")]
    merged = solve(p, EXACT)
    direct = _solve_model(p, EXACT, None)
    assert merged.objective_value == pytest.approx(direct.objective_value, rel=1e-9)
    check_constraints(p, merged.groups)
    for g in merged.groups:
        loads = {s.workload: s.tok_s for s in g.shares}
        assert loads["w0"] / loads["w1"] == pytest.approx(2300 / 900) and g.shared
    assert summarize(p, merged.groups).facility_power_w == pytest.approx(direct.objective_value)


def test_workloads_are_not_merged_where_another_workload_shares_their_configuration():
    from optimizer.merging import interchangeable

    same = point("A", tok_s=1000, power_w=400)
    other = point("A", tok_s=700, power_w=420, prompt=2048, measurement_id=1)
    p = problem([workload("w0"), workload("w1"), workload("rag")],
                [candidate("w0", same), candidate("w1", same), candidate("rag", other)], [site("s", 10, {"A": 4})])
    assert interchangeable(p) == []


def test_a_workload_is_served_only_at_the_sites_it_allows() -> None:
    """`sites:` per workload: cheaper GPUs at site a, but one workload may only run at b (shared or not)."""
    cheap, dear = point("A", tok_s=1000, power_w=300), point("A", tok_s=1000, power_w=300)
    for shared in (True, False):
        local = replace(workload("local", 1500), sites=frozenset({"b"}))
        anywhere = workload("anywhere", 1500)
        p = problem(
            [local, anywhere],
            [candidate("local", cheap), candidate("anywhere", dear)],
            [site("a", 10.0, {"A": 8}, pue=1.1), site("b", 10.0, {"A": 8}, pue=1.6)],
        )
        solved = solve(replace(p, share_replicas=shared), EXACT)
        assert solved.status == "optimal"
        served = {(g.site, s.workload): s.tok_s for g in solved.groups for s in g.shares if s.tok_s > 0}
        assert {site_ for site_, name in served if name == "local"} == {"b"}
        # the other workload's replicas run at the cheaper site a (its load may use b's spare room: a tie)
        assert {g.site: g.replicas for g in solved.groups} == {"a": 2, "b": 2}
        assert solved.objective_value == pytest.approx(2 * 300 * 1.1 + 2 * 300 * 1.6)
        check_constraints(p, solved.groups)
