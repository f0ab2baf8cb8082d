"""A starting solution for the MILP: round the LP relaxation down (or take a given solution,
such as last month's plan), then cover the demand that is left greedily.

HiGHS's own heuristics found incumbents 6-10 % above the LP bound in the first seconds on the
benchmark fleets; this rounding lands near the bound in well under a second, so the solver
spends its time proving rather than searching.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pulp

from optimizer.candidates import WorkloadSpec, candidates_by_key, configuration_id
from optimizer.formulation import PlacementModel
from optimizer.highs import relaxation_solver
from optimizer.problem import ReplicaGroup
from optimizer.replica_groups import GroupCharges, group_charges


@dataclass(frozen=True)
class _Option:
    """One way to serve a workload: a candidate's replicas at a site, alone or in a shared group."""

    workload: str
    n: pulp.LpVariable
    load: pulp.LpVariable | None
    """The shared group's load column; None for replicas of the workload's own."""
    site: str
    hardware: str
    gpus: int
    per_replica_tok_s: float
    peak_w: float
    peak_credit_per_tok_s: float


@dataclass
class _State:
    counts: dict[str, int]
    loads: dict[str, float]
    budget_w: dict[str, float]
    gpus_left: dict[tuple[str, str], int]
    covered: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    spare: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Replica-equivalents a shared group's replicas have left."""


def _options(model: PlacementModel) -> list[_Option]:
    problem = model.problem
    candidates = candidates_by_key(problem.candidates)
    sites = {site.name: site for site in problem.sites}
    found = []
    for (workload, candidate_id, site_name), n in model.replicas.items():
        c = candidates[(workload, candidate_id)]
        peak_w = sites[site_name].pue * c.peak_power_w
        found.append(_Option(workload, n, None, site_name, c.hardware, c.gpus_per_replica, problem.planned_tok_s(c), peak_w, 0.0))
    charged: dict[tuple[str, str], GroupCharges] = {}
    for (workload, candidate_id, site_name), x in model.loads.items():
        c = candidates[(workload, candidate_id)]
        config = model.configurations[configuration_id(c)]
        if (config.id, site_name) not in charged:
            charged[(config.id, site_name)] = group_charges(problem, config.members, sites[site_name])
        charges = charged[(config.id, site_name)]
        found.append(
            _Option(
                workload,
                model.groups[(config.id, site_name)],
                x,
                site_name,
                c.hardware,
                c.gpus_per_replica,
                problem.planned_tok_s(c),
                charges.per_replica["facility_peak_w"],
                charges.per_tok_s[(workload, candidate_id)]["facility_peak_w"],
            )
        )
    # columns a workload may not use at that site are held at 0 (WorkloadSpec.sites)
    return [option for option in found if option.n.upBound != 0 and (option.load is None or option.load.upBound != 0)]


@dataclass(frozen=True)
class _Rounded:
    counts: dict[str, int]
    loads: dict[str, float]
    objective: float
    """The relaxation's objective: a lower bound on every plan of the model."""
    reduced_costs: dict[str, float]
    """The relaxation's reduced cost of each integer column, by name."""


def _relaxation(model: PlacementModel, objective: pulp.LpAffineExpression) -> _Rounded | None:
    relaxed = model.prob.copy()
    relaxed.setObjective(objective)
    relaxed.solve(relaxation_solver())
    if relaxed.sol_status != pulp.LpSolutionOptimal:
        return None
    integers = [*model.replicas.values(), *model.groups.values()]
    counts = {n.name: math.floor((n.varValue or 0.0) + 1e-6) for n in integers}
    loads = {x.name: x.varValue or 0.0 for x in model.loads.values()}
    return _Rounded(counts, loads, float(pulp.value(relaxed.objective) or 0.0), {n.name: n.dj or 0.0 for n in integers})


@dataclass(frozen=True)
class Start:
    values: dict[str, float] | None
    """Values by variable name; None when no feasible point was found this way."""
    lower_bound: float | None = None
    """The LP relaxation's objective where it was solved (less a hair for the LP's tolerance): a
    proven bound while HiGHS has reported none of its own."""
    reduced_costs: dict[str, float] | None = None
    """That relaxation's reduced costs of the integer columns, by name: with the start as a
    cutoff they narrow the columns HiGHS searches (optimizer/cutoff_bounds.py)."""


def _from_plan(model: PlacementModel, base: Iterable[ReplicaGroup]) -> tuple[dict[str, int], dict[str, float]]:
    counts: dict[str, int] = {}
    loads: dict[str, float] = {}
    for group in base:
        for share in group.shares:
            key = (share.workload, share.candidate_id, group.site)
            if key in model.replicas:
                counts[model.replicas[key].name] = group.replicas
            elif key in model.loads:
                loads[model.loads[key].name] = loads.get(model.loads[key].name, 0.0) + share.tok_s
        if (group.configuration, group.site) in model.groups:
            n = model.groups[(group.configuration, group.site)].name
            counts[n] = counts.get(n, 0) + group.replicas
    return counts, loads


def _consolidated(options: Sequence[_Option], counts: dict[str, int], loads: dict[str, float]) -> dict[str, int]:
    """A plan without sharing has a group per workload where the shared model has one for all:
    the replicas their summed load needs, no more (the saving sharing is for)."""
    needed: dict[str, float] = defaultdict(float)
    for option in options:
        if option.load is not None:
            needed[option.n.name] += loads.get(option.load.name, 0.0) / option.per_replica_tok_s
    return {name: min(count, math.ceil(needed[name] - 1e-9)) if name in needed else count for name, count in counts.items()}


def lp_rounding_start(model: PlacementModel, objective: pulp.LpAffineExpression, base: Sequence[ReplicaGroup] | None = None) -> Start:
    """A feasible point, found without a MIP solve.

    `base` (a plan of a similar problem) replaces the rounded relaxation where it leads to a
    feasible point: a forecast's previous month is most of the next month's plan."""
    if any(w.min_sites > 1 for w in model.problem.workloads):
        return Start(None)
    options = _options(model)
    # solved even where `base` gives the point: its objective is the bound the gap is proven against
    rounded = _relaxation(model, objective)
    if rounded is None:
        return Start(None)
    bound = rounded.objective - LP_TOLERANCE * max(1.0, abs(rounded.objective))
    if base is not None:
        covered = _covered_plan(model, objective, options, base)
        if covered is not None:
            return Start(covered, bound, rounded.reduced_costs)
    covered = _greedy_cover(model, objective, options, rounded.counts, rounded.loads)
    if covered is None:
        # where budgets bind, the rounded-down relaxation can leave no site room for a workload's
        # large replicas: cover everything again from nothing, the hardest replicas to fit first
        covered = _greedy_cover(model, objective, options, {}, {}, largest_first=True)
    return Start(covered, bound, rounded.reduced_costs)


def _covered_plan(
    model: PlacementModel, objective: pulp.LpAffineExpression, options: list[_Option], base: Iterable[ReplicaGroup]
) -> dict[str, float] | None:
    counts, loads = _from_plan(model, base)
    return _greedy_cover(model, objective, options, _consolidated(options, counts, loads), loads)


LP_TOLERANCE = 1e-7
"""Relative: what the relaxation's objective may sit above the LP's true optimum (HiGHS's
primal and dual feasibility tolerances)."""


def _floor_state(model: PlacementModel, options: list[_Option], counts: dict[str, int], loads: dict[str, float]) -> _State | None:
    """The given counts and loads, loads cut to what the counts and the demand hold; None where
    the counts break a budget or an inventory."""
    problem = model.problem
    counts = {o.n.name: min(counts.get(o.n.name, 0), int(o.n.upBound)) for o in options}
    demand = {w.name: w.demand_tok_s for w in problem.workloads}
    shared = [(o, o.load.name) for o in options if o.load is not None]
    used: dict[str, float] = defaultdict(float)
    for o, load in shared:
        used[o.n.name] += loads.get(load, 0.0) / o.per_replica_tok_s
    kept = {load: loads.get(load, 0.0) * min(1.0, counts[o.n.name] / used[o.n.name]) if used[o.n.name] else 0.0 for o, load in shared}
    per_workload: dict[str, float] = defaultdict(float)
    for o, load in shared:
        per_workload[o.workload] += kept[load]
    for o, load in shared:
        total = per_workload[o.workload]
        if total > demand[o.workload]:
            kept[load] *= demand[o.workload] / total
    sites = {site.name: site for site in problem.sites}
    state = _State(
        counts,
        kept,
        {name: site.power_budget_w for name, site in sites.items()},
        {(name, hw): count for name, site in sites.items() for hw, count in site.inventory.items()},
    )
    seen: set[str] = set()
    for o in options:
        if o.n.name not in seen:
            seen.add(o.n.name)
            state.budget_w[o.site] -= counts[o.n.name] * o.peak_w
            state.gpus_left[(o.site, o.hardware)] = state.gpus_left.get((o.site, o.hardware), 0) - counts[o.n.name] * o.gpus
            if o.load is not None:
                state.spare[o.n.name] += counts[o.n.name]
        if o.load is None:
            state.covered[o.workload] += counts[o.n.name] * o.per_replica_tok_s
        else:
            load = kept[o.load.name]
            state.budget_w[o.site] -= o.peak_credit_per_tok_s * load
            state.spare[o.n.name] -= load / o.per_replica_tok_s
            state.covered[o.workload] += load
    if any(left < -1e-6 for left in state.budget_w.values()) or any(left < 0 for left in state.gpus_left.values()):
        return None
    return state


def _fill(state: _State, option: _Option, residual: float) -> None:
    """Put as much of `residual` as fits on a shared group's spare capacity."""
    assert option.load is not None
    # a workload its own replicas already cover has a negative residual: nothing to add
    added = max(min(residual, max(state.spare[option.n.name], 0.0) * option.per_replica_tok_s), 0.0)
    state.loads[option.load.name] += added
    state.spare[option.n.name] -= added / option.per_replica_tok_s
    state.budget_w[option.site] -= option.peak_credit_per_tok_s * added
    state.covered[option.workload] += added


def _picks_in_a_row(state: _State, option: _Option, residual: float) -> int:
    """How many replicas of `option`, the best pick, the greedy would pick one after another:
    while a whole replica is useful its score does not change and no other's falls (a score
    rises only as the residual shrinks below a replica), so it stays the best while it fits.
    One scan of the options per run of picks, not per replica."""
    useful = max(int(residual // option.per_replica_tok_s), 1)
    fits_budget = int((state.budget_w[option.site] + 1e-6) // option.peak_w) if option.peak_w > 0 else useful
    fits_gpus = state.gpus_left[(option.site, option.hardware)] // option.gpus
    return max(min(useful, int(option.n.upBound) - state.counts[option.n.name], fits_budget, fits_gpus), 1)


def _greedy_cover(
    model: PlacementModel,
    objective: pulp.LpAffineExpression,
    options: list[_Option],
    counts: dict[str, int],
    loads: dict[str, float],
    largest_first: bool = False,
) -> dict[str, float] | None:
    """The floor plus, workload by workload, spare room on shared groups, then the replica with
    the lowest objective per useful token/s that still fits its site's budget and inventory.
    Workloads come largest residual demand first, or with `largest_first` those whose smallest
    replica draws the most power first (the hardest to fit once budgets are spent)."""
    problem = model.problem
    state = _floor_state(model, options, counts, loads)
    if state is None:
        return None
    coefficient = {var.name: value for var, value in objective.items()}
    by_workload: dict[str, list[_Option]] = defaultdict(list)
    for option in options:
        by_workload[option.workload].append(option)
    def order(workload: WorkloadSpec) -> float:
        if largest_first:
            return -min((o.peak_w for o in by_workload[workload.name]), default=0.0)
        return -(workload.demand_tok_s - state.covered[workload.name])

    for workload in sorted(problem.workloads, key=order):
        mine = by_workload[workload.name]
        for option in sorted((o for o in mine if o.load is not None), key=lambda o: coefficient.get(o.load.name, 0.0)):  # type: ignore[union-attr]
            _fill(state, option, workload.demand_tok_s - state.covered[workload.name])
        while state.covered[workload.name] < workload.demand_tok_s - 1e-6:
            residual = workload.demand_tok_s - state.covered[workload.name]
            best: tuple[float, _Option] | None = None
            for option in mine:
                if state.counts[option.n.name] >= option.n.upBound or state.gpus_left.get((option.site, option.hardware), 0) < option.gpus:
                    continue
                if state.budget_w[option.site] < option.peak_w - 1e-6:
                    continue
                useful = min(option.per_replica_tok_s, residual)
                load_cost = 0.0 if option.load is None else coefficient.get(option.load.name, 0.0) * useful
                score = (coefficient.get(option.n.name, 0.0) + load_cost) / useful
                if best is None or score < best[0]:
                    best = (score, option)
            if best is None:
                return None
            option = best[1]
            count = 1 if option.load is not None else _picks_in_a_row(state, option, residual)
            state.counts[option.n.name] += count
            state.budget_w[option.site] -= count * option.peak_w
            state.gpus_left[(option.site, option.hardware)] -= count * option.gpus
            if option.load is None:
                state.covered[workload.name] += count * option.per_replica_tok_s
            else:
                state.spare[option.n.name] += 1
                _fill(state, option, residual)
    values: dict[str, float] = {name: float(count) for name, count in state.counts.items()}
    values.update(state.loads)
    shared_tok_s: dict[str, float] = defaultdict(float)
    for option in options:
        if option.load is not None:
            shared_tok_s[option.workload] += state.loads[option.load.name]
    for name, alone in model.alone.items():
        demand = next(w.demand_tok_s for w in problem.workloads if w.name == name)
        values[alone.name] = max(demand - shared_tok_s[name], 0.0)
    return values
