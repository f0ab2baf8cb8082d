"""The placement MILP written in PuLP: columns, named rows and the objectives (DESIGN.md).

Sets: workloads w, candidates k of w (hardware g_k, gpus_k per replica, tok/s T_k, average
power P_k, peak power peak_k), sites s (budget B_s, PUE_s, inventory I[s,g]).
Variables: integer n[w,k,s] replicas, 0 <= n <= min(I[s,g_k] / gpus_k, ceil(D_w / (u T_k)));
binary y[w,s] "w is served at s" only for workloads with min_sites > 1.
    demand[w]:       sum_{k,s} u * T_k * n[w,k,s] >= D_w
    inventory[s,g]:  sum_{w,k: g_k = g} gpus_k * n[w,k,s] <= I[s,g]
    power[s]:        PUE_s * sum_{w,k} peak_k * n[w,k,s] <= B_s
    sites[w]:        sum_s y[w,s] >= min_sites_w,  y[w,s] <= sum_k n[w,k,s]
Objectives (per hour, all linear in n): energy = facility W = sum PUE_s P_k n; cost = GPU-hours x
$/GPU-h + facility kWh x $/kWh; carbon = facility kWh x gCO2/kWh; gpus = GPUs in use. Each
replica is charged its operating point's power whatever its load (continuous batching runs a
smaller batch, not idle gaps), so the solver lowers the operating point where demand is low.
Ties are broken by adding the other objectives at small weights (see tie_broken_objective).

DESIGN.md writes the load x[w,k,s] as a variable with x <= u T_k n and sum x = D_w. No objective
or other row reads x, so it is projected out: demand becomes a covering row on capacity, and the
load is split after the solve in proportion to capacity (every replica of a workload then runs at
the same utilisation, at most u). That halves the columns and removes one row per column.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import pulp

from optimizer.candidates import Candidate
from optimizer.problem import OBJECTIVE_ORDER, Objective, PlanProblem, SiteSpec

TIE_WEIGHT = 1e-4
ReplicaKey = tuple[str, str, str]
"""(workload, candidate id, site): one integer column."""


def objective_terms(problem: PlanProblem, candidate: Candidate, site: SiteSpec) -> dict[Objective, float]:
    """What one replica of `candidate` at `site` adds to each objective, per hour (W for energy).
    A price or carbon intensity the site does not give counts 0 here (the scenario requires it
    where it is the objective; as a tie-break it then breaks no tie)."""
    facility_kw = site.pue * candidate.power_w / 1000
    return {
        "energy": site.pue * candidate.power_w,
        "cost": candidate.gpus_per_replica * site.gpu_hour_usd(candidate.hardware, problem.usd_per_gpu_hour)
        + facility_kw * (site.usd_per_kwh or 0.0),
        "carbon": facility_kw * (site.carbon_g_per_kwh or 0.0),
        "gpus": float(candidate.gpus_per_replica),
    }


@dataclass
class PlacementModel:
    """The PuLP problem with handles on its replica columns, objectives and any slack columns."""

    problem: PlanProblem
    prob: pulp.LpProblem
    replicas: dict[ReplicaKey, pulp.LpVariable]
    objectives: dict[Objective, pulp.LpAffineExpression]
    power_slack_w: dict[str, pulp.LpVariable] = field(default_factory=dict)
    gpu_slack: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def build_model(
    problem: PlanProblem,
    relax_power: frozenset[str] = frozenset(),
    relax_gpus: frozenset[str] = frozenset(),
    gpus_at_new_sites: bool = False,
) -> PlacementModel:
    """The MILP. `relax_power` adds slack to those sites' power budgets and `relax_gpus` to the
    inventories of those GPU types (at every site that holds some, or at every site with
    `gpus_at_new_sites`: a purchase), so that an infeasible problem still solves and the slack
    says what is missing."""
    prob = pulp.LpProblem("placement", pulp.LpMinimize)
    replicas: dict[ReplicaKey, pulp.LpVariable] = {}
    capacity: dict[str, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    demand = {workload.name: workload.demand_tok_s for workload in problem.workloads}
    objectives: dict[Objective, list[tuple[pulp.LpVariable, float]]] = {name: [] for name in ("energy", "cost", "carbon", "gpus")}
    site_peak: dict[str, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    site_gpus: dict[tuple[str, str], list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    at_site: dict[tuple[str, str], list[pulp.LpVariable]] = defaultdict(list)
    for index, candidate in enumerate(problem.candidates):
        for site in problem.sites:
            available = site.inventory.get(candidate.hardware, 0)
            # a site is offered more GPUs only of a type it holds: an explanation never tells a
            # site to buy GPUs it has no place for
            relaxed = candidate.hardware in relax_gpus and (available > 0 or gpus_at_new_sites)
            if not relaxed and available < candidate.gpus_per_replica:
                continue
            key = (candidate.workload, candidate.id, site.name)
            per_replica = problem.max_utilization * candidate.tok_s
            upper = math.ceil(demand.get(candidate.workload, 0.0) / per_replica - 1e-9)
            if not relaxed:
                upper = min(upper, available // candidate.gpus_per_replica)
            n = prob.add_variable(f"n_{index}_{_safe(site.name)}", lowBound=0, upBound=upper, cat="Integer")
            replicas[key] = n
            capacity[candidate.workload].append((n, per_replica))
            for name, value in objective_terms(problem, candidate, site).items():
                objectives[name].append((n, value))
            site_peak[site.name].append((n, site.pue * candidate.peak_power_w))
            site_gpus[(site.name, candidate.hardware)].append((n, float(candidate.gpus_per_replica)))
            at_site[(candidate.workload, site.name)].append(n)
    for workload in problem.workloads:
        covered = pulp.LpAffineExpression(capacity.get(workload.name, []))
        prob += covered >= workload.demand_tok_s, f"demand[{_safe(workload.name)}]"
        if workload.min_sites > 1:
            indicators = []
            for site in problem.sites:
                terms = at_site.get((workload.name, site.name))
                if not terms:
                    continue
                y = prob.add_variable(f"y_{_safe(workload.name)}_{_safe(site.name)}", cat="Binary")
                prob += y - pulp.lpSum(terms) <= 0, f"used[{_safe(workload.name)}@{_safe(site.name)}]"
                indicators.append(y)
            prob += pulp.lpSum(indicators) >= workload.min_sites, f"sites[{_safe(workload.name)}]"
    model = PlacementModel(problem, prob, replicas, {})
    for site in problem.sites:
        expression = pulp.LpAffineExpression(site_peak.get(site.name, []))
        if site.name in relax_power:
            model.power_slack_w[site.name] = slack = prob.add_variable(f"power_slack_{_safe(site.name)}", lowBound=0)
            expression = expression - slack
        prob += expression <= site.power_budget_w, f"power[{_safe(site.name)}]"
    sites = {site.name: site for site in problem.sites}
    for (site_name, hardware), terms in site_gpus.items():
        expression = pulp.LpAffineExpression(terms)
        if hardware in relax_gpus:
            slack = prob.add_variable(f"gpu_slack_{_safe(site_name)}_{_safe(hardware)}", lowBound=0, cat="Integer")
            model.gpu_slack[(site_name, hardware)] = slack
            expression = expression - slack
        prob += expression <= sites[site_name].inventory.get(hardware, 0), f"inventory[{_safe(site_name)},{_safe(hardware)}]"
    model.objectives = {name: pulp.LpAffineExpression(terms) for name, terms in objectives.items()}
    return model


def tie_broken_objective(model: PlacementModel, objective: Objective) -> pulp.LpAffineExpression:
    """The objective plus the others at weights too small to trade any of the first away.

    Each further objective is scaled so that its largest per-replica coefficient counts
    TIE_WEIGHT (then TIE_WEIGHT squared) of the smallest per-replica coefficient of the one
    before: a single solve then breaks ties the way a lexicographic sequence would, without
    re-solving a MIP with the first objective fixed (which took 150 s of a 160 s plan on
    data/scenarios/large.yaml).
    """
    order = [objective, *(o for o in OBJECTIVE_ORDER if o != objective)]
    combined = pulp.LpAffineExpression(model.objectives[objective])
    weight = 1.0
    for earlier, later in zip(order, order[1:], strict=False):
        smallest = min((abs(c) for c in model.objectives[earlier].values() if c), default=1.0)
        largest = max((abs(c) for c in model.objectives[later].values() if c), default=1.0)
        weight *= TIE_WEIGHT * smallest / largest
        combined += weight * model.objectives[later]
    return combined
