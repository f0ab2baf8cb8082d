"""A starting solution for the MILP: round the LP relaxation down (or take a given solution,
such as last month's plan), then cover the demand that is left greedily.

HiGHS's own heuristics found incumbents 6-10 % above the LP bound in the first seconds on the
benchmark fleets; this rounding lands near the bound in well under a second, so the solver
spends its time proving rather than searching.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

import pulp

from optimizer.candidates import candidates_by_key
from optimizer.formulation import PlacementModel, ReplicaKey
from optimizer.highs import relaxation_solver


def _relaxation_floor(model: PlacementModel, objective: pulp.LpAffineExpression) -> dict[ReplicaKey, int] | None:
    relaxed = model.prob.copy()
    relaxed.setObjective(objective)
    relaxed.solve(relaxation_solver())
    if relaxed.sol_status != pulp.LpSolutionOptimal:
        return None
    return {key: math.floor((n.varValue or 0.0) + 1e-6) for key, n in model.replicas.items()}


def lp_rounding_start(
    model: PlacementModel, objective: pulp.LpAffineExpression, base: Mapping[ReplicaKey, int] | None = None
) -> dict[str, float] | None:
    """Integer values by variable name, or None when no feasible point is found this way.

    `base` (replica counts by column) replaces the rounded relaxation where it leads to a
    feasible point: a forecast's previous month is most of the next month's plan."""
    if any(w.min_sites > 1 for w in model.problem.workloads):
        return None
    if base is not None:
        floor = {key: min(base.get(key, 0), int(n.upBound)) for key, n in model.replicas.items()}
        covered = _greedy_cover(model, objective, floor)
        if covered is not None:
            return covered
    rounded = _relaxation_floor(model, objective)
    return None if rounded is None else _greedy_cover(model, objective, rounded)


def _greedy_cover(
    model: PlacementModel, objective: pulp.LpAffineExpression, floor: Mapping[ReplicaKey, int]
) -> dict[str, float] | None:
    """`floor` plus, workload by workload, the replica with the lowest objective per useful
    token/s that still fits its site's budget and inventory; None if the floor breaks either."""
    problem = model.problem
    candidates = candidates_by_key(problem.candidates)
    sites = {site.name: site for site in problem.sites}
    coefficient = {var.name: value for var, value in objective.items()}
    counts = dict(floor)
    budget_w = {name: site.power_budget_w for name, site in sites.items()}
    gpus_left = {(name, hw): count for name, site in sites.items() for hw, count in site.inventory.items()}
    covered: dict[str, float] = defaultdict(float)
    for (workload_name, candidate_id, site_name), count in counts.items():
        candidate = candidates[(workload_name, candidate_id)]
        budget_w[site_name] -= count * sites[site_name].pue * candidate.peak_power_w
        gpus_left[(site_name, candidate.hardware)] = (
            gpus_left.get((site_name, candidate.hardware), 0) - count * candidate.gpus_per_replica
        )
        covered[workload_name] += count * problem.max_utilization * candidate.tok_s
    if any(left < -1e-6 for left in budget_w.values()) or any(left < 0 for left in gpus_left.values()):
        return None
    for workload in sorted(problem.workloads, key=lambda w: -(w.demand_tok_s - covered[w.name])):
        while covered[workload.name] < workload.demand_tok_s - 1e-6:
            residual = workload.demand_tok_s - covered[workload.name]
            best: tuple[float, ReplicaKey] | None = None
            for key, n in model.replicas.items():
                if key[0] != workload.name or counts[key] >= n.upBound:
                    continue
                candidate, site = candidates[(key[0], key[1])], sites[key[2]]
                if gpus_left.get((site.name, candidate.hardware), 0) < candidate.gpus_per_replica:
                    continue
                if budget_w[site.name] < site.pue * candidate.peak_power_w - 1e-6:
                    continue
                useful = min(problem.max_utilization * candidate.tok_s, residual)
                score = coefficient.get(n.name, 0.0) / useful
                if best is None or score < best[0]:
                    best = (score, key)
            if best is None:
                return None
            key = best[1]
            candidate = candidates[(key[0], key[1])]
            counts[key] += 1
            budget_w[key[2]] -= sites[key[2]].pue * candidate.peak_power_w
            gpus_left[(key[2], candidate.hardware)] -= candidate.gpus_per_replica
            covered[workload.name] += problem.max_utilization * candidate.tok_s
    return {model.replicas[key].name: float(count) for key, count in counts.items()}
