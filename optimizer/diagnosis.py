"""What-if analyses around a placement: why a problem is infeasible (elastic rows), the cheapest
purchase that makes it feasible, and what one more kW or GPU is worth (re-solves)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import pulp

from optimizer.candidates import candidates_by_key
from optimizer.formulation import PlacementModel, build_model
from optimizer.highs import run
from optimizer.problem import PlanProblem, Solution, SolveOptions
from optimizer.replica_groups import charged, members_by_group, members_of
from optimizer.solve import groups, solve, within

Constraint = Literal["power_budget", "inventory", "no_candidate", "min_sites", "time_limit", "unexplained"]


@dataclass(frozen=True)
class Shortfall:
    """One reason a placement could not be made, as values; planner/render.py puts it in words."""

    constraint: Constraint
    site: str | None = None
    hardware: str | None = None
    """The GPU type an `inventory` shortfall is of."""
    missing: float | None = None
    """kW of facility power (`power_budget`) or GPUs (`inventory`) the site lacks."""
    held: float | None = None
    """What the site has: its budget in kW, or its GPUs of that type."""
    workloads: tuple[str, ...] = ()
    """The workloads the missing resource would serve."""
    detail: str = ""
    """For `no_candidate`: why the workload has no candidate (the closest miss)."""


def explain_infeasibility(problem: PlanProblem, options: SolveOptions = SolveOptions()) -> list[Shortfall]:
    """Which site lacks how much power or how many GPUs, found by relaxing those rows with
    penalised slack (1 per missing kW, 1 per missing GPU) and solving for the least slack."""
    model = build_model(
        problem,
        relax_power=frozenset(site.name for site in problem.sites),
        relax_gpus=frozenset(c.hardware for c in problem.candidates),
    )
    penalty = pulp.lpSum(model.power_slack_w.values()) / 1000 + pulp.lpSum(model.gpu_slack.values())
    result = run(model.prob, penalty, replace(options, tie_break=False), options.time_limit_s)
    if result.status not in ("optimal", "feasible"):
        return [Shortfall("min_sites", workloads=tuple(w.name for w in problem.workloads if w.min_sites > 1))]
    users: dict[str, set[str]] = defaultdict(set)
    for group in groups(model):
        users[group.site].update(share.workload for share in group.shares)
    sites = {site.name: site for site in problem.sites}
    reasons = []
    for site_name, slack in model.power_slack_w.items():
        missing_w = slack.varValue or 0.0
        if missing_w > 1.0:
            budget_kw = sites[site_name].power_budget_w / 1000
            reasons.append(
                Shortfall("power_budget", site_name, None, missing_w / 1000, budget_kw, tuple(sorted(users[site_name])))
            )
    for (site_name, hardware), slack in model.gpu_slack.items():
        missing = round(slack.varValue or 0.0)
        if missing > 0:
            have = sites[site_name].inventory.get(hardware, 0)
            reasons.append(Shortfall("inventory", site_name, hardware, missing, have, tuple(sorted(users[site_name]))))
    return reasons or [Shortfall("unexplained")]


@dataclass(frozen=True)
class Addition:
    """One purchase that makes an infeasible problem feasible: GPUs of one type, or power."""

    what: str
    """A GPU type, or "power" (kW of budget)."""
    per_site: Mapping[str, float]
    usd_per_hour: float

    @property
    def amount(self) -> float:
        return sum(self.per_site.values())


def cheapest_addition(
    problem: PlanProblem,
    usd_per_gpu_hour: Mapping[str, float],
    usd_per_kw_hour: Mapping[str, float],
    options: SolveOptions = SolveOptions(),
) -> list[Addition]:
    """Each single purchase that restores feasibility, cheapest first: the fewest GPUs of one
    purchasable type (only that type's inventories relaxed), or the least extra power at the
    sites that sell it (only their budgets relaxed, priced per kW-hour)."""
    quick = replace(options, tie_break=False, warm_start=False)
    trials: list[tuple[str, PlacementModel, pulp.LpAffineExpression]] = []
    for hardware in sorted(usd_per_gpu_hour):
        if any(c.hardware == hardware for c in problem.candidates):
            model = build_model(problem, relax_gpus=frozenset({hardware}), gpus_at_new_sites=True)
            trials.append((hardware, model, pulp.lpSum(model.gpu_slack.values())))
    if usd_per_kw_hour:
        model = build_model(problem, relax_power=frozenset(usd_per_kw_hour))
        cost = pulp.lpSum(usd_per_kw_hour[site] * slack / 1000 for site, slack in model.power_slack_w.items())
        trials.append(("power", model, cost))
    additions = []
    for what, model, objective in trials:
        if run(model.prob, objective, quick, options.time_limit_s).status not in ("optimal", "feasible"):
            continue
        if what == "power":
            per_site = {site: math.ceil((slack.varValue or 0.0) / 100) / 10 for site, slack in model.power_slack_w.items()}
            price = sum(usd_per_kw_hour[site] * kw for site, kw in per_site.items())
        else:
            per_site = {site: float(round(slack.varValue or 0.0)) for (site, _), slack in model.gpu_slack.items()}
            price = usd_per_gpu_hour[what] * sum(per_site.values())
        per_site = {site: amount for site, amount in per_site.items() if amount > 0}
        additions.append(Addition(what, per_site, price))
    return sorted(additions, key=lambda addition: addition.usd_per_hour)


@dataclass(frozen=True)
class ShadowPrice:
    resource: str
    unit: str
    value_per_unit: float | None
    """How much the objective falls with one more unit; None where `method` says why there is no number."""
    resolution: float = 0.0
    """Differences below this are within the solves' optimality gaps, not the resource's value."""
    method: str = "re-solve"


def shadow_prices(
    problem: PlanProblem, solution: Solution, options: SolveOptions, max_resolves: int = 24, deadline_s: float | None = None
) -> list[ShadowPrice]:
    """The value of +1 kW at each site whose budget binds and of +1 GPU where an inventory binds,
    by re-solving: the duals of an integer program are zero and say nothing. A value within the
    two solves' gaps is not resolved and says so; probes the deadline leaves no time for are
    listed as not computed."""
    if not solution.has_solution or solution.objective_value is None:
        return []
    candidates = candidates_by_key(problem.candidates)
    shared = members_by_group(problem)
    sites = {s.name: s for s in problem.sites}
    peak_w: dict[str, float] = defaultdict(float)
    gpus_used: dict[tuple[str, str], int] = defaultdict(int)
    for group in solution.groups:
        members = members_of(group, shared, candidates)
        peak_w[group.site] += charged(problem, members, group, sites[group.site])["facility_peak_w"]
        gpus_used[(group.site, members[0].hardware)] += members[0].gpus_per_replica * group.replicas
    probes: list[tuple[str, str, PlanProblem]] = []
    for site in problem.sites:
        largest_peak = max((site.pue * c.peak_power_w for c in problem.candidates), default=0.0)
        if site.power_budget_w - peak_w[site.name] < largest_peak:
            more = replace(site, power_budget_w=site.power_budget_w + 1000)
            probes.append((f"power budget of {site.name}", "kW", problem.with_site(more)))
    for (site_name, hardware), used in sorted(gpus_used.items()):
        if used >= sites[site_name].inventory.get(hardware, 0):
            site = sites[site_name]
            more = replace(site, inventory={**site.inventory, hardware: site.inventory.get(hardware, 0) + 1})
            probes.append((f"{hardware} at {site_name}", "GPU", problem.with_site(more)))
    prices = []
    # each probe re-solves the model the plan came from: shared replicas, or each workload alone
    plan_shares = any(group.shared for group in solution.groups)
    quick = replace(options, tie_break=False, against_unshared=False)
    for resource, unit, probe in probes[:max_resolves]:
        limited = within(quick, deadline_s)
        if limited is None:
            prices.append(ShadowPrice(resource, unit, None, method="not computed: the time limit was spent"))
            continue
        resolved = solve(replace(probe, share_replicas=probe.share_replicas and plan_shares), limited)
        value = None if resolved.objective_value is None else solution.objective_value - resolved.objective_value
        if value is not None and abs(value) < 1e-6 * max(1.0, abs(solution.objective_value)):
            value = 0.0
        resolution = ((solution.gap or 0.0) + (resolved.gap or 0.0)) * solution.objective_value
        if value is None:
            method = "re-solve found no solution"
        elif abs(value) < resolution:
            value, method = None, f"not resolved: the solves' gaps (+-{resolution:,.2f}) exceed the difference"
        else:
            method = "re-solve"
        prices.append(ShadowPrice(resource=resource, unit=unit, value_per_unit=value, resolution=resolution, method=method))
    return prices
