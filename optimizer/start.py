"""A starting solution for the MILP: a given solution (such as last month's plan) with the
demand it leaves covered greedily, or else the cheapest of five greedy covers: of what the LP
relaxation rounded down leaves, and of everything from nothing, in two orders of the workloads,
scored by the objective alone or with the relaxation's prices of each site's budget and GPUs.

HiGHS's own heuristics found incumbents 6-10 % above the LP bound in the first seconds on the
benchmark fleets; this rounding lands near the bound in well under a second, so the solver
spends its time proving rather than searching. Where site budgets bind, the rounded-down
relaxation leaves too little room for what is left; covered from nothing at the budgets' prices,
the nine binding L fleets of benchmarks/binding_budgets.py started 0.96-4.05 % above the LP
bound instead of 1.6-5.2 % (2026-12-08).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
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
    n: str
    """The name of the replicas' integer column."""
    upper: int
    """That column's upper bound."""
    load: str | None
    """The name of the shared group's load column; None for replicas of the workload's own."""
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

    def copied(self) -> _State:
        counted = (dict(self.counts), dict(self.loads), dict(self.budget_w), dict(self.gpus_left))
        return _State(*counted, defaultdict(float, self.covered), defaultdict(float, self.spare))


def _options(model: PlacementModel) -> list[_Option]:
    problem = model.problem
    candidates = candidates_by_key(problem.candidates)
    sites = {site.name: site for site in problem.sites}
    found = []
    for (workload, candidate_id, site_name), n in model.replicas.items():
        c = candidates[(workload, candidate_id)]
        peak_w = sites[site_name].pue * c.peak_power_w
        if n.upBound != 0:  # a column a workload may not use at that site is held at 0 (WorkloadSpec.sites)
            found.append(_Option(workload, n.name, int(n.upBound), None, site_name, c.hardware, c.gpus_per_replica, problem.planned_tok_s(c), peak_w, 0.0))
    charged: dict[tuple[str, str], GroupCharges] = {}
    for (workload, candidate_id, site_name), x in model.loads.items():
        c = candidates[(workload, candidate_id)]
        config = model.configurations[configuration_id(c)]
        if (config.id, site_name) not in charged:
            charged[(config.id, site_name)] = group_charges(problem, config.members, sites[site_name])
        charges = charged[(config.id, site_name)]
        n = model.groups[(config.id, site_name)]
        if n.upBound == 0 or x.upBound == 0:
            continue
        found.append(
            _Option(
                workload,
                n.name,
                int(n.upBound),
                x.name,
                site_name,
                c.hardware,
                c.gpus_per_replica,
                problem.planned_tok_s(c),
                charges.per_replica["facility_peak_w"],
                charges.per_tok_s[(workload, candidate_id)]["facility_peak_w"],
            )
        )
    return found


@dataclass(frozen=True)
class _Rounded:
    counts: dict[str, int]
    loads: dict[str, float]
    objective: float
    """The relaxation's objective: a lower bound on every plan of the model."""
    reduced_costs: dict[str, float]
    """The relaxation's reduced cost of each integer column, by name."""
    prices: dict[str, float]
    """What each column's use of the site budgets and GPUs costs at the relaxation's prices for
    them (the duals of those rows), by name; columns of rows without a price are left out."""


def _relaxation(model: PlacementModel, objective: pulp.LpAffineExpression) -> _Rounded | None:
    relaxed = model.prob.copy()
    relaxed.setObjective(objective)
    relaxed.solve(relaxation_solver())
    if relaxed.sol_status != pulp.LpSolutionOptimal:
        return None
    integers = [*model.replicas.values(), *model.groups.values()]
    counts = {n.name: math.floor((n.varValue or 0.0) + 1e-6) for n in integers}
    loads = {x.name: x.varValue or 0.0 for x in model.loads.values()}
    prices: dict[str, float] = defaultdict(float)
    for row in [*model.budget_rows.values(), *model.inventory_rows.values()]:
        if row.pi:
            # a <= row of a minimisation has a dual <= 0: each unit of the row used costs -pi
            for column, used in row.items():
                prices[column.name] -= row.pi * used
    return _Rounded(counts, loads, float(pulp.value(relaxed.objective) or 0.0), {n.name: n.dj or 0.0 for n in integers}, dict(prices))


def _coefficients(objective: pulp.LpAffineExpression) -> dict[str, float]:
    return {column.name: value for column, value in objective.items()}


def _priced(coefficient: Mapping[str, float], prices: Mapping[str, float]) -> dict[str, float]:
    """The objective's coefficients with the relaxation's prices of budget and GPUs added."""
    priced = dict(coefficient)
    for name, price in prices.items():
        priced[name] = priced.get(name, 0.0) + price
    return priced


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
            needed[option.n] += loads.get(option.load, 0.0) / option.per_replica_tok_s
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
    coefficient = _coefficients(objective)
    if base is not None:
        covered = _covered_plan(model, coefficient, options, base)
        if covered is not None:
            return Start(covered, bound, rounded.reduced_costs)
    floor = _floor_state(model, options, rounded.counts, rounded.loads)
    nothing = _floor_state(model, options, {}, {})
    covers = [
        None if floor is None else _greedy_cover(model, coefficient, options, floor),
        # where budgets bind, the rounded-down relaxation leaves every site too little room for
        # the residual demand, or none for a workload's large replicas: cover everything again
        # from nothing, in both orders, scored by the objective and by the objective with the
        # relaxation's prices of budget and GPUs
        *(
            _greedy_cover(model, scores, options, nothing, largest_first)
            for scores in (coefficient, _priced(coefficient, rounded.prices))
            for largest_first in (True, False)
            if nothing is not None
        ),
    ]
    found = [values for values in covers if values is not None]
    best = min(found, key=lambda values: sum(coefficient.get(name, 0.0) * value for name, value in values.items()), default=None)
    return Start(best, bound, rounded.reduced_costs)


def _covered_plan(model: PlacementModel, coefficient: Mapping[str, float], options: list[_Option], base: Iterable[ReplicaGroup]) -> dict[str, float] | None:
    counts, loads = _from_plan(model, base)
    floor = _floor_state(model, options, _consolidated(options, counts, loads), loads)
    return None if floor is None else _greedy_cover(model, coefficient, options, floor)


LP_TOLERANCE = 1e-7
"""Relative: what the relaxation's objective may sit above the LP's true optimum (HiGHS's
primal and dual feasibility tolerances)."""


def _floor_state(model: PlacementModel, options: list[_Option], counts: dict[str, int], loads: dict[str, float]) -> _State | None:
    """The given counts and loads, loads cut to what the counts and the demand hold; None where
    the counts break a budget or an inventory."""
    problem = model.problem
    counts = {o.n: min(counts.get(o.n, 0), o.upper) for o in options}
    demand = {w.name: w.demand_tok_s for w in problem.workloads}
    shared = [(o, o.load) for o in options if o.load is not None]
    used: dict[str, float] = defaultdict(float)
    for o, load in shared:
        used[o.n] += loads.get(load, 0.0) / o.per_replica_tok_s
    kept = {load: loads.get(load, 0.0) * min(1.0, counts[o.n] / used[o.n]) if used[o.n] else 0.0 for o, load in shared}
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
        if o.n not in seen:
            seen.add(o.n)
            state.budget_w[o.site] -= counts[o.n] * o.peak_w
            state.gpus_left[(o.site, o.hardware)] = state.gpus_left.get((o.site, o.hardware), 0) - counts[o.n] * o.gpus
            if o.load is not None:
                state.spare[o.n] += counts[o.n]
        if o.load is None:
            state.covered[o.workload] += counts[o.n] * o.per_replica_tok_s
        else:
            carried = kept[o.load]
            state.budget_w[o.site] -= o.peak_credit_per_tok_s * carried
            state.spare[o.n] -= carried / o.per_replica_tok_s
            state.covered[o.workload] += carried
    if any(left < -1e-6 for left in state.budget_w.values()) or any(left < 0 for left in state.gpus_left.values()):
        return None
    return state


def _fill(state: _State, option: _Option, residual: float) -> None:
    """Put as much of `residual` as fits on a shared group's spare capacity."""
    assert option.load is not None
    # a workload its own replicas already cover has a negative residual: nothing to add
    added = max(min(residual, max(state.spare[option.n], 0.0) * option.per_replica_tok_s), 0.0)
    state.loads[option.load] += added
    state.spare[option.n] -= added / option.per_replica_tok_s
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
    return max(min(useful, option.upper - state.counts[option.n], fits_budget, fits_gpus), 1)


def _whole_replica_score(coefficient: Mapping[str, float], option: _Option) -> float:
    """The cover's score of a replica all of whose tokens/s are useful: the least it can score."""
    return coefficient.get(option.n, 0.0) / option.per_replica_tok_s + (0.0 if option.load is None else coefficient.get(option.load, 0.0))


def _greedy_cover(
    model: PlacementModel,
    coefficient: Mapping[str, float],
    options: list[_Option],
    floor: _State,
    largest_first: bool = False,
) -> dict[str, float] | None:
    """The floor (`_floor_state`, left as it is) plus, workload by workload, spare room on shared
    groups, then the replica with the lowest cost (`coefficient` by column name) per useful
    token/s that still fits its site's budget and inventory.
    Workloads come largest residual demand first, or with `largest_first` those whose smallest
    replica draws the most power first (the hardest to fit once budgets are spent)."""
    problem = model.problem
    state = floor.copied()
    by_workload: dict[str, list[_Option]] = defaultdict(list)
    for option in options:
        by_workload[option.workload].append(option)
    def order(workload: WorkloadSpec) -> float:
        if largest_first:
            return -min((o.peak_w for o in by_workload[workload.name]), default=0.0)
        return -(workload.demand_tok_s - state.covered[workload.name])

    for workload in sorted(problem.workloads, key=order):
        mine = by_workload[workload.name]
        for option in sorted((o for o in mine if o.load is not None), key=lambda o: 0.0 if o.load is None else coefficient.get(o.load, 0.0)):
            _fill(state, option, workload.demand_tok_s - state.covered[workload.name])
        # a replica's cost per token/s is least where all of it is useful: where no replica costs
        # less than nothing, the scan stops at the first option whose whole-replica cost is above
        # the best found (on XL the covers took 1.2 s each scanning every option per pick)
        ranked = sorted(((_whole_replica_score(coefficient, o), o) for o in mine), key=lambda scored: scored[0])
        stops = all(coefficient.get(o.n, 0.0) >= 0 for o in mine)
        while state.covered[workload.name] < workload.demand_tok_s - 1e-6:
            residual = workload.demand_tok_s - state.covered[workload.name]
            best: tuple[float, _Option] | None = None
            for least_score, option in ranked:
                if stops and best is not None and least_score > best[0]:
                    break
                if state.counts[option.n] >= option.upper or state.gpus_left.get((option.site, option.hardware), 0) < option.gpus:
                    continue
                if state.budget_w[option.site] < option.peak_w - 1e-6:
                    continue
                useful = min(option.per_replica_tok_s, residual)
                load_cost = 0.0 if option.load is None else coefficient.get(option.load, 0.0) * useful
                score = (coefficient.get(option.n, 0.0) + load_cost) / useful
                if best is None or score < best[0]:
                    best = (score, option)
            if best is None:
                return None
            option = best[1]
            count = 1 if option.load is not None else _picks_in_a_row(state, option, residual)
            state.counts[option.n] += count
            state.budget_w[option.site] -= count * option.peak_w
            state.gpus_left[(option.site, option.hardware)] -= count * option.gpus
            if option.load is None:
                state.covered[workload.name] += count * option.per_replica_tok_s
            else:
                state.spare[option.n] += 1
                _fill(state, option, residual)
    values: dict[str, float] = {name: float(count) for name, count in state.counts.items()}
    values.update(state.loads)
    shared_tok_s: dict[str, float] = defaultdict(float)
    for option in options:
        if option.load is not None:
            shared_tok_s[option.workload] += state.loads[option.load]
    for name, alone in model.alone.items():
        demand = next(w.demand_tok_s for w in problem.workloads if w.name == name)
        values[alone.name] = max(demand - shared_tok_s[name], 0.0)
    return values
