"""The placement MILP written in PuLP: columns, named rows and the objectives (DESIGN.md).

Sets: workloads w, candidates k of w (hardware g_k, gpus_k per replica, tok/s T_k, average
power P_k, peak power peak_k), sites s (budget B_s, PUE_s, inventory I[s,g]); configurations K
(optimizer/replica_groups.py): a shared one holds the candidates of several workloads of one
model measured in it, any other candidate is a configuration of its own.
Variables: integer n[K,s] replicas, 0 <= n <= min(I[s,g_K] / gpus_K, ceil(sum_k D_w / (u T_k)));
for a shared K, continuous loads x[k,s] >= 0 (tok/s of k's workload on those replicas); z[w] the
load a workload with shared columns leaves to its unshared ones; binary y[w,s] "w is served at
s" only for workloads with min_sites > 1.
    demand[w]:       sum_{unshared k,s} u T_k n[k,s] >= D_w            (no shared column)
                     sum_{shared k,s} x[k,s] + z_w = D_w,  z_w <= sum_{unshared} u T_k n
    group[K,s]:      sum_{k in K} x[k,s] / (u T_k) <= n[K,s]
    inventory[s,g]:  sum_{K: g_K = g} gpus_K * n[K,s] <= I[s,g]
    power[s]:        sum_K (peak charged to n[K,s] and x, replica_groups) <= B_s
    sites[w]:        sum_s y[w,s] >= min_sites_w,  y[w,s] <= replicas or replica-equivalents of w at s
Objectives (per hour, linear): energy = facility W; cost = GPU-hours x $/GPU-h + facility kWh x
$/kWh; carbon = facility kWh x gCO2/kWh; gpus = GPUs in use. Each replica is charged its
operating point's power whatever its load (continuous batching runs a smaller batch, not idle
gaps), so the solver lowers the operating point where demand is low; a shared group is charged
at its members' ceiling and credited per load (replica_groups). Ties are broken by adding the
other objectives at small weights (see tie_broken_objective).

DESIGN.md writes the load x[w,k,s] of every column as a variable with x <= u T_k n and
sum x = D_w. Where a configuration serves one workload no objective or other row reads x, so it
is projected out: demand becomes a covering row on capacity, and the load is split after the
solve in proportion to capacity. That halves the columns of a plan with nothing shared, whose
model is the same as before sharing existed.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulp

from optimizer.candidates import Candidate, WorkloadSpec
from optimizer.problem import OBJECTIVE_ORDER, Objective, PlanProblem, SiteSpec
from optimizer.replica_groups import OBJECTIVE_QUANTITIES, Configuration, configurations, group_charges, replica_terms

TIE_WEIGHT = 1e-4
ReplicaKey = tuple[str, str, str]
"""(workload, candidate id, site): one integer column of an unshared configuration, or one
load column of a shared one."""
GroupKey = tuple[str, str]
"""(configuration id, site): the integer column of a shared configuration's replicas."""
Terms = list[tuple[pulp.LpVariable, float]]


@dataclass
class PlacementModel:
    """The PuLP problem with handles on its columns, objectives and any slack columns."""

    problem: PlanProblem
    prob: pulp.LpProblem
    replicas: dict[ReplicaKey, pulp.LpVariable]
    """Replicas of unshared candidates."""
    objectives: dict[Objective, pulp.LpAffineExpression]
    groups: dict[GroupKey, pulp.LpVariable] = field(default_factory=dict)
    """Replicas of shared configurations."""
    loads: dict[ReplicaKey, pulp.LpVariable] = field(default_factory=dict)
    """Tokens/s of a workload through its candidate on a shared group."""
    alone: dict[str, pulp.LpVariable] = field(default_factory=dict)
    """Tokens/s of a workload with shared columns that its unshared replicas carry."""
    configurations: dict[str, Configuration] = field(default_factory=dict)
    """The shared configurations, by id."""
    power_slack_w: dict[str, pulp.LpVariable] = field(default_factory=dict)
    gpu_slack: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    budget_rows: dict[str, pulp.LpConstraint] = field(default_factory=dict)
    """Each site's power row, by site: a solved relaxation leaves its dual as the row's `pi`."""
    inventory_rows: dict[tuple[str, str], pulp.LpConstraint] = field(default_factory=dict)
    """Each (site, GPU type)'s inventory row."""


@functools.cache
def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


@dataclass
class _Rows:
    """The terms of each row, gathered column by column."""

    capacity: dict[str, Terms] = field(default_factory=lambda: defaultdict(list))
    shared_load: dict[str, Terms] = field(default_factory=lambda: defaultdict(list))
    objectives: dict[Objective, Terms] = field(default_factory=lambda: {name: [] for name in OBJECTIVE_QUANTITIES})
    site_peak: dict[str, Terms] = field(default_factory=lambda: defaultdict(list))
    site_gpus: dict[tuple[str, str], Terms] = field(default_factory=lambda: defaultdict(list))
    at_site: dict[tuple[str, str], Terms] = field(default_factory=lambda: defaultdict(list))


def build_model(
    problem: PlanProblem,
    relax_power: frozenset[str] = frozenset(),
    relax_gpus: frozenset[str] = frozenset(),
    gpus_at_new_sites: bool = False,
    bound_demand_tok_s: Mapping[str, float] | None = None,
    leave_out: frozenset[ReplicaKey] = frozenset(),
) -> PlacementModel:
    """The MILP. `leave_out` names unshared columns to build without (`dominated_columns`).
    `relax_power` adds slack to those sites' power budgets and `relax_gpus` to the
    inventories of those GPU types (at every site that holds some, or at every site with
    `gpus_at_new_sites`: a purchase), so that an infeasible problem still solves and the slack
    says what is missing. `bound_demand_tok_s` sizes the replica columns' upper bounds instead of
    the demand (a schedule may keep replicas its interval does not need, to spare a start)."""
    prob = pulp.LpProblem("placement", pulp.LpMinimize)
    model = PlacementModel(problem, prob, {}, {})
    rows = _Rows()
    demand = {workload.name: workload.demand_tok_s for workload in problem.workloads}
    workloads = {workload.name: workload for workload in problem.workloads}
    for index, config in enumerate(configurations(problem.candidates, problem.share_replicas)):
        if config.shared:
            model.configurations[config.id] = config
        needed = math.ceil(sum((bound_demand_tok_s or demand).get(c.workload, 0.0) / problem.planned_tok_s(c) for c in config.members) - 1e-9)
        for site in problem.sites:
            available = site.inventory.get(config.hardware, 0)
            # a site is offered more GPUs only of a type it holds: an explanation never tells a
            # site to buy GPUs it has no place for
            relaxed = config.hardware in relax_gpus and (available > 0 or gpus_at_new_sites)
            if not relaxed and available < config.gpus_per_replica:
                continue
            if not config.shared and (config.members[0].workload, config.members[0].id, site.name) in leave_out:
                continue
            upper = needed if relaxed else min(needed, available // config.gpus_per_replica)
            n = prob.add_variable(f"n_{index}_{_safe(site.name)}", lowBound=0, upBound=upper, cat="Integer")
            _add_columns(model, rows, config, site, n, workloads)
    _demand_rows(model, rows)
    for site in problem.sites:
        expression = pulp.LpAffineExpression(rows.site_peak.get(site.name, []))
        if site.name in relax_power:
            model.power_slack_w[site.name] = slack = prob.add_variable(f"power_slack_{_safe(site.name)}", lowBound=0)
            expression = expression - slack
        model.budget_rows[site.name] = expression <= site.power_budget_w
        prob.addConstraint(model.budget_rows[site.name], f"power[{_safe(site.name)}]")
    sites = {site.name: site for site in problem.sites}
    for (site_name, hardware), terms in rows.site_gpus.items():
        expression = pulp.LpAffineExpression(terms)
        if hardware in relax_gpus:
            slack = prob.add_variable(f"gpu_slack_{_safe(site_name)}_{_safe(hardware)}", lowBound=0, cat="Integer")
            model.gpu_slack[(site_name, hardware)] = slack
            expression = expression - slack
        model.inventory_rows[(site_name, hardware)] = expression <= sites[site_name].inventory.get(hardware, 0)
        prob.addConstraint(model.inventory_rows[(site_name, hardware)], f"inventory[{_safe(site_name)},{_safe(hardware)}]")
    model.objectives = {name: pulp.LpAffineExpression(terms) for name, terms in rows.objectives.items()}
    return model


def replica_columns(problem: PlanProblem) -> int:
    """The integer replica columns build_model makes, before any are left out: one per
    configuration and site that holds a replica's GPUs."""
    return sum(
        site.inventory.get(config.hardware, 0) >= config.gpus_per_replica
        for config in configurations(problem.candidates, problem.share_replicas)
        for site in problem.sites
    )


def dominated_columns(problem: PlanProblem) -> frozenset[ReplicaKey]:
    """Unshared columns no optimum needs: a candidate whose workload has another unshared one on
    the same hardware that carries at least as many planned tokens/s with no more GPUs, peak or
    average power (exact ties: the earlier stays), at a site whose every charge grows with those.

    Why the optimum is unchanged: swap each such replica for one of its dominator at the same
    site. Capacity does not fall, and no budget, inventory or objective term rises, since each is
    a non-negative multiple of GPUs, peak or average power there; where the swaps exceed the
    dominator's column bound (ceil of demand over its tokens/s), that many of its replicas carry
    the demand alone and the rest are dropped. The same holds for the LP relaxation. HiGHS's
    presolve finds the same columns itself (19,373 on the benchmark's binding XL fleet), but spent
    40-75 s of a 60 s limit doing so where this takes 0.2 s (2026-12-02, 2-core dev machine).
    Not for schedules, whose intervals share the replica columns. `candidates._prune_dominated`
    already drops candidates beaten on latency and efficiency within one GPU count; this compares
    across GPU counts, on planned (capped) tokens/s, and only where the site's charges allow it."""
    unshared = [c.members[0] for c in configurations(problem.candidates, problem.share_replicas) if not c.shared]
    by_hardware: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for candidate in unshared:
        by_hardware[(candidate.workload, candidate.hardware)].append(candidate)
    dominated: list[Candidate] = []
    for family in by_hardware.values():
        figures = [(-problem.planned_tok_s(c), c.gpus_per_replica, c.peak_power_w, c.power_w) for c in family]
        for index, own in enumerate(figures):
            if any(
                all(a <= b for a, b in zip(other, own, strict=True)) and (other != own or earlier < index)
                for earlier, other in enumerate(figures)
                if earlier != index
            ):
                dominated.append(family[index])
    sites = [site.name for site in problem.sites if _charges_grow(problem, site)]
    return frozenset((c.workload, c.id, site) for c in dominated for site in sites)


def _charges_grow(problem: PlanProblem, site: SiteSpec) -> bool:
    """Every objective, budget and inventory term at `site` is a non-negative multiple of a
    replica's GPUs, peak or average power."""
    rates = [site.gpu_hour_usd(hardware, problem.usd_per_gpu_hour) for hardware in site.inventory]
    return site.pue > 0 and (site.usd_per_kwh or 0.0) >= 0 and (site.carbon_g_per_kwh or 0.0) >= 0 and all(rate >= 0 for rate in rates)


def _add_columns(
    model: PlacementModel, rows: _Rows, config: Configuration, site: SiteSpec, n: pulp.LpVariable, workloads: Mapping[str, WorkloadSpec]
) -> None:
    """One configuration at one site: its replicas and, where shared, a load column per member
    with the group's capacity row. Objectives and peak power follow replica_groups' accounting."""
    problem = model.problem
    site_name = site.name
    # one member: its own figures are the ceiling and there is nothing to credit
    charges = group_charges(problem, config.members, site) if config.shared else None
    replica_charge = charges.per_replica if charges is not None else replica_terms(problem, config.members[0], site)
    for name in OBJECTIVE_QUANTITIES:
        rows.objectives[name].append((n, replica_charge[name]))
    rows.site_peak[site_name].append((n, replica_charge["facility_peak_w"]))
    rows.site_gpus[(site_name, config.hardware)].append((n, float(config.gpus_per_replica)))
    if not config.shared:
        (candidate,) = config.members
        if not workloads[candidate.workload].may_use(site_name):
            n.upBound = 0
        model.replicas[(candidate.workload, candidate.id, site_name)] = n
        rows.capacity[candidate.workload].append((n, problem.planned_tok_s(candidate)))
        rows.at_site[(candidate.workload, site_name)].append((n, 1.0))
        return
    assert charges is not None
    model.groups[(config.id, site_name)] = n
    used: Terms = [(n, -1.0)]
    for candidate in config.members:
        workload = workloads[candidate.workload]
        per_replica = problem.planned_tok_s(candidate)
        # a site the workload may not use keeps the column (the group's charges are its members'), at 0
        upper = workload.demand_tok_s if workload.may_use(site_name) else 0.0
        x = model.prob.add_variable(f"x_{n.name[2:]}_{_safe(candidate.workload)}_{len(model.loads)}", lowBound=0, upBound=upper)
        model.loads[(candidate.workload, candidate.id, site_name)] = x
        used.append((x, 1 / per_replica))
        credits = charges.per_tok_s[(candidate.workload, candidate.id)]
        for name in OBJECTIVE_QUANTITIES:
            if credits[name]:
                rows.objectives[name].append((x, credits[name]))
        if credits["facility_peak_w"]:
            rows.site_peak[site_name].append((x, credits["facility_peak_w"]))
        rows.shared_load[candidate.workload].append((x, 1.0))
        # served at a site: a replica's worth of its load there, or its share of min_sites
        rows.at_site[(candidate.workload, site_name)].append((x, 1 / min(per_replica, workload.demand_tok_s / workload.min_sites)))
    model.prob += pulp.LpAffineExpression(used) <= 0, f"group[{_safe(config.id)}@{_safe(site_name)}]"


def _demand_rows(model: PlacementModel, rows: _Rows) -> None:
    """Demand covered by unshared capacity (a covering row, as before sharing) plus shared loads
    (an equality, so no load is invented to earn a group's credits)."""
    prob = model.prob
    for workload in model.problem.workloads:
        name = _safe(workload.name)
        covered = pulp.LpAffineExpression(rows.capacity.get(workload.name, []))
        shared = rows.shared_load.get(workload.name)
        if not shared:
            prob += covered >= workload.demand_tok_s, f"demand[{name}]"
        elif not rows.capacity.get(workload.name):
            prob += pulp.LpAffineExpression(shared) == workload.demand_tok_s, f"demand[{name}]"
        else:
            alone = model.alone[workload.name] = prob.add_variable(f"z_{name}", lowBound=0, upBound=workload.demand_tok_s)
            prob += pulp.LpAffineExpression(shared) + alone == workload.demand_tok_s, f"demand[{name}]"
            prob += alone - covered <= 0, f"unshared[{name}]"

        if workload.min_sites > 1:
            indicators = []
            for site in model.problem.sites:
                terms = rows.at_site.get((workload.name, site.name))
                if not terms:
                    continue
                y = prob.add_variable(f"y_{name}_{_safe(site.name)}", cat="Binary")
                prob += y - pulp.LpAffineExpression(terms) <= 0, f"used[{name}@{_safe(site.name)}]"
                indicators.append(y)
            prob += pulp.lpSum(indicators) >= workload.min_sites, f"sites[{name}]"


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
