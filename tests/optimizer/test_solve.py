"""The MILP against exhaustive enumeration, invariants on random problems, and its diagnostics."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from optimizer.candidates import configuration_id
from optimizer.diagnosis import Shortfall, explain_infeasibility, shadow_prices
from optimizer.metrics import summarize
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.replica_groups import charged, members_by_group, members_of, replica_terms
from optimizer.solve import solve
from planner.wording import describe_shortfall
from tests.optimizer.factories import candidate, point, problem, site, workload

EXACT = SolveOptions(gap_rel=0.0)


def brute_force(p: PlanProblem) -> float | None:
    """The least objective over every replica vector that fits inventories and budgets and
    has the capacity for each demand (load then splits continuously)."""
    slots = [(c, s) for c in p.candidates for s in p.sites if s.inventory.get(c.hardware, 0) >= c.gpus_per_replica]
    ranges = [range(s.inventory[c.hardware] // c.gpus_per_replica + 1) for c, s in slots]
    best = None
    for counts in itertools.product(*ranges):
        gpus: dict[tuple[str, str], int] = defaultdict(int)
        peak: dict[str, float] = defaultdict(float)
        capacity: dict[str, float] = defaultdict(float)
        value = 0.0
        for n, (c, s) in zip(counts, slots, strict=True):
            gpus[(s.name, c.hardware)] += n * c.gpus_per_replica
            peak[s.name] += n * s.pue * c.peak_power_w
            capacity[c.workload] += n * p.max_utilization * c.tok_s
            value += n * replica_terms(p, c, s)[p.objective]
        if any(used > next(s for s in p.sites if s.name == name).inventory[hw] for (name, hw), used in gpus.items()):
            continue
        if any(used > next(s for s in p.sites if s.name == name).power_budget_w + 1e-9 for name, used in peak.items()):
            continue
        if any(capacity[w.name] < w.demand_tok_s - 1e-9 for w in p.workloads):
            continue
        best = value if best is None else min(best, value)
    return best


def check_constraints(p: PlanProblem, groups) -> None:
    """Demand met, each group's load within its replicas' capacity, inventories and budgets
    held, each group's peak charged as replica_groups charges it."""
    candidates = {(c.workload, c.id): c for c in p.candidates}
    shared = members_by_group(p)
    sites = {s.name: s for s in p.sites}
    served: dict[str, float] = defaultdict(float)
    gpus: dict[tuple[str, str], int] = defaultdict(int)
    peak: dict[str, float] = defaultdict(float)
    for g in groups:
        members = members_of(g, shared, candidates)
        load = sum(share.tok_s / candidates[(share.workload, share.candidate_id)].tok_s for share in g.shares)
        assert load <= p.max_utilization * g.replicas * (1 + 1e-7) + 1e-6
        assert len(g.shares) == 1 or g.shared
        for share in g.shares:
            served[share.workload] += share.tok_s
            assert configuration_id(candidates[(share.workload, share.candidate_id)]) == g.configuration
        gpus[(g.site, members[0].hardware)] += g.replicas * members[0].gpus_per_replica
        peak[g.site] += charged(p, members, g, sites[g.site])["facility_peak_w"]
        assert charged(p, members, g, sites[g.site])["facility_peak_w"] >= min(
            sites[g.site].pue * m.peak_power_w for m in members) * g.replicas * (1 - 1e-9)
    for w in p.workloads:
        assert served[w.name] == pytest.approx(w.demand_tok_s, rel=1e-6)
    for (name, hw), used in gpus.items():
        assert used <= sites[name].inventory.get(hw, 0)
    for name, used in peak.items():
        assert used <= sites[name].power_budget_w * (1 + 1e-7)


def test_picks_the_lower_energy_operating_point():
    # Two batch sizes on one GPU type: the bigger batch serves more tokens per joule.
    small = candidate("w", point("A", tok_s=1000, power_w=400, load=16))
    large = candidate("w", point("A", tok_s=4000, power_w=600, load=64, measurement_id=1))
    p = problem([workload(demand=3000)], [small, large], [site("s", 10, {"A": 4})])
    solution = solve(p, EXACT)
    assert solution.status == "optimal"
    assert [(g.shares[0].candidate_id, g.replicas) for g in solution.groups] == [(large.id, 1)]
    assert solution.objective_value == pytest.approx(1.2 * 600)


def test_low_demand_takes_the_smaller_operating_point():
    # 500 tok/s fit one small replica (400 W) better than one large one (600 W).
    small = candidate("w", point("A", tok_s=1000, power_w=400, load=16))
    large = candidate("w", point("A", tok_s=4000, power_w=600, load=64, measurement_id=1))
    p = problem([workload(demand=500)], [small, large], [site("s", 10, {"A": 4})])
    assert [g.shares[0].candidate_id for g in solve(p, EXACT).groups] == [small.id]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    st.lists(st.tuples(st.sampled_from("AB"), st.integers(200, 3000), st.integers(150, 700), st.integers(0, 150)),
             min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(1, 3), st.integers(0, 3), st.floats(1.0, 1.6), st.integers(1, 6)), min_size=1, max_size=2),
    st.integers(100, 5000),
    st.sampled_from(["energy", "cost", "carbon"]),
)
def test_optimal_against_exhaustive_enumeration(points, sites, demand, objective):
    candidates = [
        candidate("w", point(hw, tok_s=t, power_w=pw, peak_w=pw + extra, load=i + 1, measurement_id=i))
        for i, (hw, t, pw, extra) in enumerate(points)
    ]
    site_list = [
        site(f"s{i}", budget_kw=kw, inventory={"A": a, "B": b}, pue=pue, carbon=100 + 50 * i, usd_per_kwh=0.05 + 0.05 * i)
        for i, (a, b, pue, kw) in enumerate(sites)
    ]
    p = problem([workload(demand=demand)], candidates, site_list, objective=objective)
    expected = brute_force(p)
    solution = solve(p, EXACT)
    event(f"status {solution.status}")
    if expected is None:
        assert solution.status == "infeasible"
    else:
        assert solution.status == "optimal"
        assert solution.objective_value == pytest.approx(expected, rel=1e-6, abs=1e-6)
        check_constraints(p, solution.groups)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(2, 4))
def test_every_constraint_holds_on_random_problems(seed, n_workloads, n_sites):
    import random

    rng = random.Random(seed)
    workloads = [workload(f"w{i}", demand=rng.uniform(500, 20_000)) for i in range(n_workloads)]
    candidates = [
        candidate(w.name, point(hw, tok_s=rng.uniform(500, 8000), power_w=rng.uniform(200, 700),
                                peak_w=rng.uniform(700, 750), load=2 ** j, gpus=rng.choice([1, 1, 2]), measurement_id=j))
        for w in workloads for hw in "ABC" for j in range(3)
    ]
    sites = [site(f"s{i}", budget_kw=rng.uniform(5, 40), inventory={hw: rng.randint(0, 12) for hw in "ABC"},
                  pue=rng.uniform(1.05, 1.6)) for i in range(n_sites)]
    p = problem(workloads, candidates, sites, objective=rng.choice(["energy", "cost", "carbon"]))
    solution = solve(p, SolveOptions())
    if solution.has_solution:
        check_constraints(p, solution.groups)
        fleet = summarize(p, solution.groups)
        assert fleet.tok_s == pytest.approx(sum(w.demand_tok_s for w in workloads), rel=1e-6)
    else:
        assert solution.status == "infeasible"
        assert explain_infeasibility(p)


def test_objectives_choose_differently():
    # A: efficient but expensive GPU at a dirty site; C: cheap GPU at a clean site.
    a = candidate("w", point("A", tok_s=2000, power_w=300))
    c = candidate("w", point("C", tok_s=2000, power_w=600, measurement_id=1))
    sites = [site("dirty", 10, {"A": 2}, carbon=800, usd_per_kwh=0.1), site("clean", 10, {"C": 2}, carbon=20, usd_per_kwh=0.1)]
    chosen = {
        objective: {x.site for x in solve(problem([workload(demand=1000)], [a, c], sites, objective=objective), EXACT).groups}
        for objective in ("energy", "cost", "carbon")
    }
    assert chosen == {"energy": {"dirty"}, "cost": {"clean"}, "carbon": {"clean"}}


def test_tie_break_is_deterministic_and_prefers_the_cheaper_of_equal_energy():
    # Same power at two sites, same PUE: energy ties; cost breaks the tie towards cheap power.
    op = point("A", tok_s=2000, power_w=500)
    sites = [site("pricey", 10, {"A": 2}, usd_per_kwh=0.30), site("cheap", 10, {"A": 2}, usd_per_kwh=0.05)]
    p = problem([workload(demand=1000)], [candidate("w", op)], sites)
    runs = {tuple(solve(p).groups) for _ in range(3)}
    assert len(runs) == 1
    assert {a.site for a in runs.pop()} == {"cheap"}


def test_min_sites_spreads_a_workload():
    op = point("A", tok_s=5000, power_w=500)
    sites = [site("s1", 10, {"A": 4}), site("s2", 10, {"A": 4}, pue=1.5)]
    p = problem([workload(demand=1000, min_sites=2)], [candidate("w", op)], sites)
    solution = solve(p, EXACT)
    assert {a.site for a in solution.groups} == {"s1", "s2"}
    check_constraints(p, solution.groups)


def test_infeasible_power_names_the_site_and_the_shortfall():
    op = point("A", tok_s=1000, power_w=600, peak_w=700)
    # 5,000 tok/s at 80 % needs 7 replicas x 700 W x PUE 1.2 = 5.88 kW; the budget is 3 kW.
    p = problem([workload(demand=5000)], [candidate("w", op)], [site("dc-east", 3, {"A": 10}, pue=1.2)])
    assert solve(p).status == "infeasible"
    (reason,) = explain_infeasibility(p)
    assert (reason.constraint, reason.site, reason.workloads, reason.held) == ("power_budget", "dc-east", ("w",), 3.0)
    assert reason.missing == pytest.approx(7 * 700 * 1.2 / 1000 - 3)  # 2.88 kW
    assert describe_shortfall(reason, {"dc-east": 1.2}).startswith("site dc-east needs 2.9 kW more")


def test_infeasible_inventory_names_the_gpus_missing():
    op = point("A", tok_s=1000, power_w=600)
    p = problem([workload(demand=5000)], [candidate("w", op)], [site("dc-west", 100, {"A": 4})])
    reasons = explain_infeasibility(p)
    assert reasons == [Shortfall("inventory", "dc-west", "A", 3, 4, ("w",))]
    assert describe_shortfall(reasons[0], {"dc-west": 1.0}) == "site dc-west needs 3 more A (has 4) to serve w"


def test_an_explanation_never_names_a_gpu_type_the_site_does_not_hold():
    # 4,000 tok/s: east's 2 A give 160 and west's one B (its 1 kW budget takes one 840 W replica)
    # 3,200. Eight more A at east, or one more B at west with 0.84 kW more, would do; the least
    # slack would be one B at east, a site that holds no B: never offered.
    a, b = point("A", tok_s=100, power_w=600, peak_w=700), point("B", tok_s=4000, power_w=600, peak_w=700, load=32)
    p = problem(
        [workload(demand=4000)],
        [candidate("w", a), candidate("w", b)],
        [site("east", 100, {"A": 2}), site("west", 1, {"B": 1})],
    )
    assert solve(p).status == "infeasible"
    reasons = explain_infeasibility(p)
    assert reasons
    held = {("east", "A"), ("west", "B"), ("west", None)}
    assert all((r.site, r.hardware) in held for r in reasons), reasons


def test_time_limited_solve_reports_status_and_gap():
    # A knapsack-like instance with many near-equivalent candidates; a tiny limit may or may
    # not prove optimality, but a "feasible" result must carry its gap.
    import random

    rng = random.Random(7)
    workloads = [workload(f"w{i}", demand=rng.uniform(5_000, 50_000)) for i in range(6)]
    candidates = [
        candidate(w.name, point(hw, tok_s=rng.uniform(900, 9000), power_w=rng.uniform(300, 700), load=j, measurement_id=j))
        for w in workloads for hw in "ABC" for j in range(6)
    ]
    sites = [site(f"s{i}", budget_kw=rng.uniform(20, 60), inventory={hw: rng.randint(4, 40) for hw in "ABC"}) for i in range(6)]
    solution = solve(problem(workloads, candidates, sites), SolveOptions(time_limit_s=0.05, gap_rel=0.0))
    assert solution.status in ("optimal", "feasible", "no_solution", "infeasible")
    if solution.status == "feasible":
        assert solution.gap is not None and solution.gap > 0
    if solution.status == "optimal":
        assert solution.gap == pytest.approx(0.0, abs=1e-9)


def test_shadow_price_of_a_binding_budget_is_positive_and_matches_a_resolve():
    good = point("A", tok_s=2000, power_w=400, peak_w=500)
    poor = point("B", tok_s=2000, power_w=700, peak_w=700, measurement_id=1)
    sites = [site("tight", 0.6, {"A": 4}, pue=1.0), site("loose", 100, {"B": 4}, pue=1.0)]
    p = problem([workload(demand=3000)], [candidate("w", good), candidate("w", poor)], sites)
    solution = solve(p, EXACT)
    prices = {price.resource: price.value_per_unit for price in shadow_prices(p, solution, EXACT)}
    # 0.6 kW holds one A replica (500 W peak); +1 kW holds both, instead of one A and one B: 300 W less.
    assert prices["power budget of tight"] == pytest.approx(300)
    assert not math.isnan(prices["power budget of tight"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.integers(0, 10_000))
def test_lp_rounding_start_is_feasible_and_does_not_change_the_optimum(seed):
    import random

    from optimizer.formulation import build_model
    from optimizer.start import lp_rounding_start

    rng = random.Random(seed)
    workloads = [workload(f"w{i}", demand=rng.uniform(1_000, 30_000)) for i in range(3)]
    # one configuration's power differs a little between workloads' lengths, its speed more
    measured = {(hw, j): (rng.uniform(800, 8000), rng.uniform(200, 700)) for hw in "AB" for j in range(3)}
    candidates = [
        candidate(w.name, point(hw, tok_s=measured[(hw, j)][0] * rng.uniform(0.7, 1.3),
                                power_w=measured[(hw, j)][1] * rng.uniform(0.95, 1.05), load=j, measurement_id=j))
        for w in workloads for hw in "AB" for j in range(3)
    ]
    sites = [site(f"s{i}", budget_kw=rng.uniform(10, 40), inventory={hw: rng.randint(2, 20) for hw in "AB"}) for i in range(3)]
    p = problem(workloads, candidates, sites)
    model = build_model(p)
    start = lp_rounding_start(model, model.objectives["energy"]).values
    with_start = solve(p, EXACT)
    without = solve(p, SolveOptions(gap_rel=0.0, warm_start=False))
    assert with_start.status == without.status
    if start is not None:
        for var in model.prob.variables():
            var.varValue = start.get(var.name, 0.0)
        assert model.prob.valid(1e-6)
        assert with_start.objective_value <= sum(c * start[v.name] for v, c in model.objectives["energy"].items()) + 1e-6
    if with_start.has_solution:
        assert with_start.objective_value == pytest.approx(without.objective_value, rel=1e-6)


@pytest.mark.parametrize(("near_budget_kw", "near_gpus", "expected_near"), [(1.5, 8, 3), (10.0, 2, 2), (10.0, 8, 5)])
def test_the_cover_fills_the_cheaper_site_as_far_as_its_budget_gpus_or_the_demand_allow(near_budget_kw, near_gpus, expected_near):
    """Five replicas of 800 planned tok/s (500 W peak) carry 4,000 tok/s. The cover picks a run of
    them at once at the site of lower PUE: three where 1.5 kW holds exactly three, two where it
    has two GPUs, all five where nothing else limits them; the other site takes the rest."""
    from optimizer.formulation import build_model
    from optimizer.start import _coefficients, _floor_state, _greedy_cover, _options

    only = candidate("w", point("A", tok_s=1000, power_w=400, peak_w=500))
    sites = [site("near", near_budget_kw, {"A": near_gpus}, pue=1.0), site("far", 10.0, {"A": 8}, pue=1.5)]
    model = build_model(problem([workload(demand=4000)], [only], sites))
    objective = model.objectives["energy"]
    options = _options(model)
    floor = _floor_state(model, options, {}, {})
    assert floor is not None
    values = _greedy_cover(model, _coefficients(objective), options, floor, largest_first=True)
    assert values is not None
    placed = {name: values[model.replicas[("w", only.id, name)].name] for name in ("near", "far")}
    assert placed == {"near": expected_near, "far": 5 - expected_near}


def test_follow_up_solves_keep_within_the_deadline_and_say_what_they_skipped():
    import time

    from optimizer.baselines import best_single_gpu_type, max_throughput
    from optimizer.solve import within

    ops = [point("A", tok_s=1000, power_w=600, peak_w=700), point("B", tok_s=1200, power_w=650, peak_w=700, load=32)]
    p = problem([workload(demand=4000)], [candidate("w", op) for op in ops], [site("east", 5, {"A": 3, "B": 3})])
    solution = solve(p, EXACT)
    assert solution.status == "optimal"
    spent = time.monotonic() - 1.0
    assert within(EXACT, spent) is None and within(EXACT, None) is EXACT
    assert within(SolveOptions(time_limit_s=100.0), time.monotonic() + 5.0).time_limit_s <= 5.0
    prices = shadow_prices(p, solution, EXACT, deadline_s=spent)
    assert prices and all(price.value_per_unit is None and "not computed" in price.method for price in prices)
    assert best_single_gpu_type(p, EXACT, spent).status == "skipped"
    assert max_throughput(p, EXACT, spent).status == "skipped"
    computed = shadow_prices(p, solution, EXACT)
    assert all(price.method == "re-solve" and price.value_per_unit is not None for price in computed)  # exact solves resolve


def test_a_highs_solve_on_more_threads_earlier_in_the_process_does_not_cost_the_plan():
    """HiGHS's thread scheduler is process-wide: after other code ran HiGHS on two threads, every
    one-thread solve was refused and a feasible plan came back as "no_solution"."""
    import highspy

    from tests.optimizer.test_child_solve import _random_problem

    problem = _random_problem(1)
    expected = solve(problem, SolveOptions(gap_rel=0.0))
    assert expected.status == "optimal"
    highspy.Highs.resetGlobalScheduler(True)
    foreign = highspy.Highs()
    foreign.setOptionValue("output_flag", False)
    foreign.setOptionValue("threads", 2)
    foreign.addVar(0.0, 1.0)
    assert foreign.run() == highspy.HighsStatus.kOk
    found = solve(problem, SolveOptions(gap_rel=0.0))
    assert found.status == "optimal"
    assert found.objective_value == pytest.approx(expected.objective_value, rel=1e-9)


def test_a_solve_highs_refuses_twice_is_an_error_that_says_so():
    import highspy

    from optimizer.child_solve import run_on_one_thread
    from optimizer.errors import OptimizerError

    class Refusing:
        runs = 0

        def run(self):
            self.runs += 1
            return highspy.HighsStatus.kError

        def getModelStatus(self):  # noqa: N802 - HiGHS's name
            return highspy.HighsModelStatus.kNotset

    refusing = Refusing()
    with pytest.raises(OptimizerError, match="HiGHS refused to solve"):
        run_on_one_thread(refusing)
    assert refusing.runs == 2


def test_numpy_blas_runs_on_one_thread_while_a_model_is_solved_and_as_before_after(monkeypatch: pytest.MonkeyPatch):
    """A second BLAS thread, woken by a dot product in this process, spun beside HiGHS's children
    on a two-core machine: the nine binding L fleets solved 9-25 % sooner without it (one run each,
    2026-12-07)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import optimizer.solve
    from tests.optimizer.test_child_solve import _random_problem

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    seen: list[list[int]] = []
    real_run = optimizer.solve.run

    def counting_run(*args, **kwargs):
        seen.append(blas_threads())
        return real_run(*args, **kwargs)

    monkeypatch.setattr(optimizer.solve, "run", counting_run)
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and all(threads == 2 for threads in before), "numpy's BLAS could not be set to two threads"
        solve(_random_problem(1), SolveOptions(gap_rel=0.0, time_limit_s=5.0))
        assert blas_threads() == before
    assert seen and all(threads == [1] * len(before) for threads in seen)
