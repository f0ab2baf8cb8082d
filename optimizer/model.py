"""The placement MILP (DESIGN.md), solved with PuLP on HiGHS.

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

import functools
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pulp

from optimizer.candidates import Candidate, WorkloadSpec, candidates_by_key
from optimizer.child_solve import CHILD_MIN_COLUMNS, ChildResult, configured_options, model_arrays, solve_in_child
from optimizer.start import lp_rounding_start

Objective = Literal["energy", "cost", "carbon", "gpus"]
OBJECTIVE_ORDER: tuple[Objective, ...] = ("energy", "cost", "carbon")
Status = Literal["optimal", "feasible", "infeasible", "no_solution"]
TIE_WEIGHT = 1e-4
READ_BACK_S_PER_COLUMN = 6e-6


class OptimizerError(Exception):
    """The solver could not be run; the message says what to install or change."""


@dataclass(frozen=True)
class SiteSpec:
    name: str
    power_budget_w: float
    pue: float
    carbon_g_per_kwh: float
    usd_per_kwh: float
    inventory: Mapping[str, int]


@dataclass(frozen=True)
class PlanProblem:
    workloads: tuple[WorkloadSpec, ...]
    candidates: tuple[Candidate, ...]
    sites: tuple[SiteSpec, ...]
    usd_per_gpu_hour: Mapping[str, float]
    max_utilization: float = 0.8
    objective: Objective = "energy"

    def restricted(self, keep: Sequence[Candidate]) -> PlanProblem:
        return replace(self, candidates=tuple(keep))


@dataclass(frozen=True)
class SolveOptions:
    time_limit_s: float | None = None
    gap_rel: float = 1e-3
    tie_break: bool = True
    seed: int = 0
    solver: str = "HiGHS"
    warm_start: bool = True
    presolve: bool = True


@dataclass(frozen=True)
class Assignment:
    site: str
    workload: str
    candidate_id: str
    replicas: int
    tok_s: float


@dataclass(frozen=True)
class Solution:
    status: Status
    assignments: tuple[Assignment, ...] = ()
    objective_value: float | None = None
    gap: float | None = None
    build_s: float = 0.0
    solve_s: float = 0.0
    solver: str = ""

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")


def objective_terms(problem: PlanProblem, candidate: Candidate, site: SiteSpec) -> dict[Objective, float]:
    """What one replica of `candidate` at `site` adds to each objective, per hour (W for energy)."""
    facility_kw = site.pue * candidate.power_w / 1000
    return {
        "energy": site.pue * candidate.power_w,
        "cost": candidate.gpus * problem.usd_per_gpu_hour.get(candidate.hardware, 0.0) + facility_kw * site.usd_per_kwh,
        "carbon": facility_kw * site.carbon_g_per_kwh,
        "gpus": float(candidate.gpus),
    }


@dataclass
class _Model:
    problem: PlanProblem
    prob: pulp.LpProblem
    replicas: dict[tuple[str, str, str], pulp.LpVariable]
    objectives: dict[Objective, pulp.LpAffineExpression]
    power_slack_w: dict[str, pulp.LpVariable] = field(default_factory=dict)
    gpu_slack: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def build_model(
    problem: PlanProblem, relax_power: frozenset[str] = frozenset(), relax_gpus: frozenset[str] = frozenset()
) -> _Model:
    """The MILP. `relax_power` adds slack to those sites' power budgets and `relax_gpus` to the
    inventories of those GPU types (at every site), so that an infeasible problem still solves
    and the slack says what is missing."""
    prob = pulp.LpProblem("placement", pulp.LpMinimize)
    replicas: dict[tuple[str, str, str], pulp.LpVariable] = {}
    capacity: dict[str, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    demand = {workload.name: workload.demand_tok_s for workload in problem.workloads}
    objectives: dict[Objective, list[tuple[pulp.LpVariable, float]]] = {name: [] for name in ("energy", "cost", "carbon", "gpus")}
    site_peak: dict[str, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    site_gpus: dict[tuple[str, str], list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    at_site: dict[tuple[str, str], list[pulp.LpVariable]] = defaultdict(list)
    for index, candidate in enumerate(problem.candidates):
        for site in problem.sites:
            available = site.inventory.get(candidate.hardware, 0)
            relaxed = candidate.hardware in relax_gpus
            if not relaxed and available < candidate.gpus:
                continue
            key = (candidate.workload, candidate.id, site.name)
            per_replica = problem.max_utilization * candidate.tok_s
            upper = math.ceil(demand.get(candidate.workload, 0.0) / per_replica - 1e-9)
            if not relaxed:
                upper = min(upper, available // candidate.gpus)
            n = prob.add_variable(f"n_{index}_{_safe(site.name)}", lowBound=0, upBound=upper, cat="Integer")
            replicas[key] = n
            capacity[candidate.workload].append((n, per_replica))
            for name, value in objective_terms(problem, candidate, site).items():
                objectives[name].append((n, value))
            site_peak[site.name].append((n, site.pue * candidate.peak_power_w))
            site_gpus[(site.name, candidate.hardware)].append((n, float(candidate.gpus)))
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
    model = _Model(problem, prob, replicas, {})
    for site in problem.sites:
        terms = site_peak.get(site.name, [])
        expression = pulp.LpAffineExpression(terms)
        if site.name in relax_power:
            model.power_slack_w[site.name] = slack = prob.add_variable(f"power_slack_{_safe(site.name)}", lowBound=0)
            expression = expression - slack
        prob += expression <= site.power_budget_w, f"power[{_safe(site.name)}]"
    for (site_name, hardware), terms in site_gpus.items():
        site = next(s for s in problem.sites if s.name == site_name)
        expression = pulp.LpAffineExpression(terms)
        if hardware in relax_gpus:
            slack = prob.add_variable(f"gpu_slack_{_safe(site_name)}_{_safe(hardware)}", lowBound=0, cat="Integer")
            model.gpu_slack[(site_name, hardware)] = slack
            expression = expression - slack
        prob += expression <= site.inventory.get(hardware, 0), f"inventory[{_safe(site_name)},{_safe(hardware)}]"
    model.objectives = {name: pulp.LpAffineExpression(terms) for name, terms in objectives.items()}
    return model


class _HighsFromStart(pulp.HiGHS):
    """PuLP's HiGHS interface, handing HiGHS a starting solution (PuLP 3 passes none), and
    solving a large model in a child process when a time limit must hold (optimizer/child_solve)."""

    def __init__(self, start: Mapping[str, float] | None = None, deadline_s: float | None = None, **options: object) -> None:
        super().__init__(**options)
        self.start = start
        self.deadline_s = deadline_s
        self.child_result: ChildResult | None = None

    def _start_arrays(self, lp: pulp.LpProblem) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.start:
            return None
        variables = [var for var in lp.variables() if var.name in self.start]
        indices = np.array([var.index for var in variables], dtype=np.int32)
        return indices, np.array([self.start[var.name] for var in variables], dtype=np.float64)

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 - PuLP's name
        start = self._start_arrays(lp)
        if self.deadline_s is not None and lp.solverModel.getNumCol() >= CHILD_MIN_COLUMNS:
            arrays = model_arrays(lp.solverModel)
            start_objective = None if start is None else float(arrays["col_cost"][start[0]] @ start[1] + arrays["offset"])
            # leave the time it takes to read the values back and build the plan (1.1-1.2 s for
            # 228,000 columns on the 2-core dev machine) inside the limit
            deadline_s = self.deadline_s - READ_BACK_S_PER_COLUMN * arrays["num_col"]
            self.child_result = solve_in_child(arrays, configured_options(lp.solverModel), start, start_objective, deadline_s)
            return
        if start is not None:
            lp.solverModel.setSolution(len(start[0]), start[0], start[1])
        super().callSolver(lp)

    def findSolutionValues(self, lp: pulp.LpProblem) -> tuple[int, int]:  # noqa: N802 - PuLP's name
        result = self.child_result
        if result is None:
            return super().findSolutionValues(lp)
        if result.values is not None:
            for var in lp.variables():
                var.varValue = float(result.values[var.index])
        return {
            "optimal": (pulp.LpStatusOptimal, pulp.LpSolutionOptimal),
            "feasible": (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible),
            "infeasible": (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible),
            "no_solution": (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound),
        }[result.status]

    def proven_gap(self, lp: pulp.LpProblem) -> float | None:
        return self.child_result.gap if self.child_result is not None else _gap(lp)


def relaxation_solver() -> pulp.LpSolver:
    _silence_highs_banner()
    return pulp.getSolver("HiGHS", msg=False, mip=False, threads=1)


CBC = "PULP_CBC_CMD"


def solver_name(requested: str) -> str:
    """The solver that will run: HiGHS, or PuLP's bundled CBC where highspy is missing."""
    if requested == "HiGHS" and not pulp.HiGHS().available() and pulp.PULP_CBC_CMD().available():
        return CBC
    return requested


def _solver(options: SolveOptions, time_limit_s: float | None, start: Mapping[str, float] | None = None) -> pulp.LpSolver:
    name = solver_name(options.solver)
    if name == "HiGHS":
        solver: pulp.LpSolver = _HighsFromStart(
            start,
            None if time_limit_s is None else time.monotonic() + time_limit_s,
            msg=False,
            timeLimit=time_limit_s,
            gapRel=options.gap_rel,
            threads=1,
            random_seed=options.seed,
            # HiGHS 1.16 presolve with a user solution declared a worse point optimal on a random
            # test problem (tests/optimizer/test_model.py); MIP presolve has open wrong-optimum
            # reports upstream. A solve that starts from a solution runs without presolve.
            presolve="on" if options.presolve and not start else "off",
        )
    elif name == CBC:
        solver = pulp.PULP_CBC_CMD(
            msg=False, timeLimit=time_limit_s, gapRel=options.gap_rel, threads=1, options=[f"randomSeed {options.seed}"]
        )
    else:
        raise OptimizerError(f"unknown solver {name!r}. To fix: use HiGHS or {CBC}.")
    if not solver.available():
        raise OptimizerError(f"the {name} solver is not available. To fix: `pip install highspy` (HiGHS) or use {CBC}.")
    return solver


@functools.cache
def _silence_highs_banner() -> None:
    """HiGHS prints a banner to the process's stdout when its first solver object is made,
    whatever `output_flag` says; make that first object with stdout pointed at /dev/null."""
    try:
        import highspy
    except ImportError:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _run(
    model: _Model,
    objective: pulp.LpAffineExpression,
    options: SolveOptions,
    time_limit_s: float | None,
    start: Mapping[str, float] | None = None,
) -> tuple[Status, float | None]:
    model.prob.setObjective(objective)
    if solver_name(options.solver) == "HiGHS":
        _silence_highs_banner()
    solver = _solver(options, time_limit_s, start)
    model.prob.solve(solver)
    gap = solver.proven_gap(model.prob) if isinstance(solver, _HighsFromStart) else None
    if model.prob.sol_status == pulp.LpSolutionOptimal:
        # "Optimal" means within the requested gap: report the gap HiGHS proved.
        return "optimal", gap or 0.0
    if model.prob.sol_status == pulp.LpSolutionIntegerFeasible:
        return "feasible", gap
    if model.prob.sol_status == pulp.LpSolutionInfeasible:
        return "infeasible", None
    return "no_solution", None


def _gap(prob: pulp.LpProblem) -> float | None:
    """The proven relative gap of a time-limited incumbent, where the solver reports one."""
    highs = getattr(prob, "solverModel", None)
    if highs is None or not hasattr(highs, "getInfo"):
        return None
    gap = highs.getInfo().mip_gap
    return None if gap is None or gap != gap or gap > 1e20 else float(gap)


def _assignments(model: _Model) -> tuple[Assignment, ...]:
    """Replica counts from the solve; each workload's demand split in proportion to capacity."""
    problem = model.problem
    tok_s = {(c.workload, c.id): c.tok_s for c in problem.candidates}
    counts = {key: round(n.varValue or 0.0) for key, n in model.replicas.items()}
    capacity: dict[str, float] = defaultdict(float)
    for (workload, candidate, _), count in counts.items():
        capacity[workload] += count * tok_s[(workload, candidate)]
    demand = {w.name: w.demand_tok_s for w in problem.workloads}
    rows = [
        Assignment(
            site=site,
            workload=workload,
            candidate_id=candidate,
            replicas=count,
            tok_s=demand[workload] * count * tok_s[(workload, candidate)] / capacity[workload],
        )
        for (workload, candidate, site), count in counts.items()
        if count > 0
    ]
    return tuple(sorted(rows, key=lambda a: (a.site, a.workload, a.candidate_id)))


def tie_broken_objective(model: _Model, objective: Objective) -> pulp.LpAffineExpression:
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
    for earlier, later in zip(order, order[1:]):
        smallest = min((abs(c) for c in model.objectives[earlier].values() if c), default=1.0)
        largest = max((abs(c) for c in model.objectives[later].values() if c), default=1.0)
        weight *= TIE_WEIGHT * smallest / largest
        combined += weight * model.objectives[later]
    return combined


def solve(problem: PlanProblem, options: SolveOptions = SolveOptions()) -> Solution:
    """The placement minimising the problem's objective, ties broken by the others."""
    started = time.perf_counter()
    model = build_model(problem)
    built = time.perf_counter()
    primary = model.objectives[problem.objective]
    objective = tie_broken_objective(model, problem.objective) if options.tie_break else primary
    warm = options.warm_start and solver_name(options.solver) == "HiGHS"
    start = lp_rounding_start(model, objective) if warm else None
    # the limit is on the wall clock from the call: building the model and the start count
    remaining = None if options.time_limit_s is None else max(options.time_limit_s - (time.perf_counter() - started), 0.5)
    status, gap = _run(model, objective, options, remaining, start)
    if status not in ("optimal", "feasible"):
        return Solution(
            status=status, build_s=built - started, solve_s=time.perf_counter() - built, solver=solver_name(options.solver)
        )
    return Solution(
        status=status,
        assignments=_assignments(model),
        objective_value=pulp.value(primary),
        gap=gap,
        build_s=built - started,
        solve_s=time.perf_counter() - built,
        solver=solver_name(options.solver),
    )


def explain_infeasibility(problem: PlanProblem, options: SolveOptions = SolveOptions()) -> list[str]:
    """Which site lacks how much power or how many GPUs, found by relaxing those rows with
    penalised slack (1 per missing kW, 1 per missing GPU) and solving for the least slack."""
    model = build_model(
        problem,
        relax_power=frozenset(site.name for site in problem.sites),
        relax_gpus=frozenset(c.hardware for c in problem.candidates),
    )
    penalty = pulp.lpSum(model.power_slack_w.values()) / 1000 + pulp.lpSum(model.gpu_slack.values())
    status, _ = _run(model, penalty, replace(options, tie_break=False), options.time_limit_s)
    if status not in ("optimal", "feasible"):
        return ["no placement exists even with unlimited power and GPUs: check min_sites against the number of sites"]
    users: dict[str, set[str]] = defaultdict(set)
    for assignment in _assignments(model):
        users[assignment.site].add(assignment.workload)
    reasons = []
    sites = {site.name: site for site in problem.sites}
    for site_name, slack in model.power_slack_w.items():
        missing_w = slack.varValue or 0.0
        if missing_w > 1.0:
            budget_kw = sites[site_name].power_budget_w / 1000
            reasons.append(
                f"site {site_name} needs {missing_w / 1000:.1f} kW more (budget {budget_kw:g} kW facility, "
                f"PUE {sites[site_name].pue:g}) to serve {', '.join(sorted(users[site_name]))}"
            )
    for (site_name, hardware), slack in model.gpu_slack.items():
        missing = round(slack.varValue or 0.0)
        if missing > 0:
            have = sites[site_name].inventory.get(hardware, 0)
            reasons.append(
                f"site {site_name} needs {missing} more {hardware} (has {have}) to serve {', '.join(sorted(users[site_name]))}"
            )
    return reasons or ["infeasible, but relaxing power and inventory alone does not show why"]


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

    def describe(self) -> str:
        unit = "kW" if self.what == "power" else self.what
        sites = ", ".join(f"{site} {amount:g}" for site, amount in self.per_site.items())
        return f"{self.amount:g} {unit} ({sites}) for ${self.usd_per_hour:,.2f}/h"


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
    trials: list[tuple[str, _Model, pulp.LpAffineExpression]] = []
    for hardware in sorted(usd_per_gpu_hour):
        if any(c.hardware == hardware for c in problem.candidates):
            model = build_model(problem, relax_gpus=frozenset({hardware}))
            trials.append((hardware, model, pulp.lpSum(model.gpu_slack.values())))
    if usd_per_kw_hour:
        model = build_model(problem, relax_power=frozenset(usd_per_kw_hour))
        cost = pulp.lpSum(usd_per_kw_hour[site] * slack / 1000 for site, slack in model.power_slack_w.items())
        trials.append(("power", model, cost))
    additions = []
    for what, model, objective in trials:
        status, _ = _run(model, objective, quick, options.time_limit_s)
        if status not in ("optimal", "feasible"):
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
    """How much the objective falls with one more unit (None: the re-solve found no solution)."""
    resolution: float = 0.0
    """Differences below this are within the solves' optimality gaps, not the resource's value."""
    method: str = "re-solve"


def shadow_prices(problem: PlanProblem, solution: Solution, options: SolveOptions, max_resolves: int = 24) -> list[ShadowPrice]:
    """The value of +1 kW at each site whose budget binds and of +1 GPU where an inventory binds,
    by re-solving: the duals of an integer program are zero and say nothing."""
    if not solution.has_solution or solution.objective_value is None:
        return []
    candidates = candidates_by_key(problem.candidates)
    sites = {s.name: s for s in problem.sites}
    peak_w: dict[str, float] = defaultdict(float)
    gpus_used: dict[tuple[str, str], int] = defaultdict(int)
    for a in solution.assignments:
        candidate = candidates[(a.workload, a.candidate_id)]
        peak_w[a.site] += sites[a.site].pue * candidate.peak_power_w * a.replicas
        gpus_used[(a.site, candidate.hardware)] += candidate.gpus * a.replicas
    probes: list[tuple[str, str, PlanProblem]] = []
    for site in problem.sites:
        largest_peak = max((sites[site.name].pue * c.peak_power_w for c in problem.candidates), default=0.0)
        if site.power_budget_w - peak_w[site.name] < largest_peak:
            more = replace(site, power_budget_w=site.power_budget_w + 1000)
            probes.append((f"power budget of {site.name}", "kW", _with_site(problem, more)))
    for (site_name, hardware), used in sorted(gpus_used.items()):
        if used >= sites[site_name].inventory.get(hardware, 0):
            site = sites[site_name]
            more = replace(site, inventory={**site.inventory, hardware: site.inventory.get(hardware, 0) + 1})
            probes.append((f"{hardware} at {site_name}", "GPU", _with_site(problem, more)))
    prices = []
    quick = replace(options, tie_break=False)
    for resource, unit, probe in probes[:max_resolves]:
        resolved = solve(probe, quick)
        value = None if resolved.objective_value is None else solution.objective_value - resolved.objective_value
        if value is not None and abs(value) < 1e-6 * max(1.0, abs(solution.objective_value)):
            value = 0.0
        gaps = (solution.gap or 0.0) + (resolved.gap or 0.0)
        prices.append(ShadowPrice(resource=resource, unit=unit, value_per_unit=value, resolution=gaps * solution.objective_value))
    return prices


def _with_site(problem: PlanProblem, site: SiteSpec) -> PlanProblem:
    return replace(problem, sites=tuple(site if s.name == site.name else s for s in problem.sites))
