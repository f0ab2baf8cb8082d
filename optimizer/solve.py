"""One placement solve: the model, a starting solution, HiGHS, and the replicas read back with
each workload's demand split over them."""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

import pulp
from threadpoolctl import threadpool_limits

from optimizer import largest_batches
from optimizer.candidates import candidates_by_key, configuration_id
from optimizer.child_solve import CHILD_MIN_COLUMNS, Started, ended, start_beside, started_early
from optimizer.formulation import GroupKey, PlacementModel, build_model, dominated_columns, replica_columns, tie_broken_objective
from optimizer.highs import READ_BACK_S_PER_COLUMN, SOLVER_NAME, run
from optimizer.merging import interchangeable, merged_problem, merged_start, split_back
from optimizer.problem import PlanProblem, ReplicaGroup, Share, Solution, SolveOptions, Status
from optimizer.replica_groups import configurations
from optimizer.start import Start, lp_rounding_start


def groups(model: PlacementModel) -> tuple[ReplicaGroup, ...]:
    """Replica groups as solved. A shared group's shares are its load columns; the load left to
    a workload's unshared replicas is split over them in proportion to their planned capacity."""
    problem = model.problem
    candidates = candidates_by_key(problem.candidates)
    # planned capacity over the problem's cap: a candidate without a cap of its own weighs its
    # tok/s exactly, as before caps existed
    tok_s = {key: c.tok_s if c.max_utilization is None else problem.planned_tok_s(c) / problem.max_utilization for key, c in candidates.items()}
    counts = {key: round(n.varValue or 0.0) for key, n in model.replicas.items()}
    capacity: dict[str, float] = defaultdict(float)
    for (workload, candidate, _), count in counts.items():
        capacity[workload] += count * tok_s[(workload, candidate)]
    alone = {w.name: w.demand_tok_s for w in problem.workloads}
    alone.update({name: max(z.varValue or 0.0, 0.0) for name, z in model.alone.items()})
    found = [
        ReplicaGroup(
            site=site,
            configuration=configuration_id(candidates[(workload, candidate)]),
            replicas=count,
            shares=(Share(workload, candidate, alone[workload] * count * tok_s[(workload, candidate)] / capacity[workload]),),
        )
        for (workload, candidate, site), count in counts.items()
        if count > 0
    ]
    loads: dict[GroupKey, list[Share]] = defaultdict(list)
    for (workload, candidate, site), x in model.loads.items():
        value = x.varValue or 0.0
        if value > LOAD_RESOLUTION_TOK_S:
            loads[(configuration_id(candidates[(workload, candidate)]), site)].append(Share(workload, candidate, value))
    for (config, site), n in model.groups.items():
        count = round(n.varValue or 0.0)
        if count > 0:
            found.append(ReplicaGroup(site, config, count, tuple(loads[(config, site)]), shared=True))
    return tuple(sorted(found, key=lambda g: (g.site, g.configuration, [s.workload for s in g.shares])))


LOAD_RESOLUTION_TOK_S = 1e-6
"""Loads below this are the solver's rounding, not traffic."""


MIN_SOLVE_S = 0.5
"""A follow-up solve (baseline, shadow price) is not started with less time than this left, nor
a solve without a start given less."""


def within(options: SolveOptions, deadline_s: float | None) -> SolveOptions | None:
    """`options` limited to what is left before `deadline_s` (time.monotonic()), or None when too
    little is left to start another solve."""
    if deadline_s is None:
        return options
    left_s = deadline_s - time.monotonic()
    if left_s < MIN_SOLVE_S:
        return None
    return replace(options, time_limit_s=left_s if options.time_limit_s is None else min(options.time_limit_s, left_s))


def solve(problem: PlanProblem, options: SolveOptions = SolveOptions(), start_from: Solution | None = None) -> Solution:
    """The placement minimising the problem's objective, ties broken by the others.

    Where a shared configuration's members draw different power, the plan without sharing is
    solved too (first, with a third of the time) and the better kept, so sharing never costs
    more than it saves; the returned gap then holds against both models' bounds. `start_from`,
    a solution of a similar problem (last month's plan), seeds the starting point."""
    classes = interchangeable(problem) if problem.share_replicas else []
    if classes:
        start = None if start_from is None else merged_start(classes, start_from, problem)
        return split_back(problem, classes, solve(merged_problem(problem, classes), options, start))
    shared = [c for c in configurations(problem.candidates, problem.share_replicas) if c.shared]
    if not options.against_unshared or all(c.uniform for c in shared):
        # the shared model then holds every plan without sharing at the same cost
        return _solve_model(problem, options, start_from)
    started_s = time.monotonic()
    first = options if options.time_limit_s is None else replace(options, time_limit_s=options.time_limit_s * UNSHARED_SHARE)
    alone = _solve_model(replace(problem, share_replicas=False), first, start_from)
    limited = within(options, None if options.time_limit_s is None else started_s + options.time_limit_s)
    # the plan without sharing is a feasible start for the shared model where the groups' peak fits
    seed = start_from if start_from is not None or not alone.has_solution else alone
    together = _solve_model(problem, limited or replace(options, time_limit_s=MIN_SOLVE_S), seed)
    return replace(_better(together, alone), unshared=alone)


UNSHARED_SHARE = 1 / 3
"""Of a time limit, what the plan without sharing may use; the shared model, started from it, gets the rest."""


def _lower_bound(solution: Solution) -> float | None:
    """What the solve proved no plan of its model beats; +inf where it proved none exists."""
    if solution.status == "infeasible":
        return math.inf
    if solution.objective_value is None or solution.gap is None or not math.isfinite(solution.gap):
        return None
    return solution.objective_value - solution.gap * abs(solution.objective_value)


def _better(together: Solution, alone: Solution) -> Solution:
    solved = [s for s in (together, alone) if s.has_solution and s.objective_value is not None]
    build_s, solve_s = together.build_s + alone.build_s, together.solve_s + alone.solve_s
    if not solved:
        status: Status = "infeasible" if together.status == alone.status == "infeasible" else "no_solution"
        return replace(together, status=status, build_s=build_s, solve_s=solve_s)
    best = min(solved, key=lambda s: s.objective_value or 0.0)
    assert best.objective_value is not None
    bounds = [_lower_bound(together), _lower_bound(alone)]
    if any(bound is None for bound in bounds):
        return replace(best, status="feasible", gap=None, build_s=build_s, solve_s=solve_s)
    gap = max(best.objective_value - min(b for b in bounds if b is not None), 0.0) / max(abs(best.objective_value), 1e-12)
    optimal = together.status == "optimal" and alone.status in ("optimal", "infeasible")
    return replace(best, status="optimal" if optimal or (best.status == "optimal" and gap <= 1e-9) else "feasible", gap=gap, build_s=build_s, solve_s=solve_s)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a model is built and solved: its collections
    walk every PuLP object made so far, and took 3.2 s of the 13.9 s XL spent before HiGHS
    started (2026-12-03, 2-core dev machine). What it would free waits until the solve ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _blas_on_one_thread() -> Iterator[None]:
    """numpy's BLAS kept to one thread while a model is solved: the cores belong to HiGHS and its
    children. A dot product over the 16,580 columns of a binding L fleet (each plan sent from
    beside is costed so) woke OpenBLAS's second thread, which then spun on the second core
    beside the children: 13 such wakes in one 10 s solve (tightness 0.7, seed 3; 2026-12-07)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@_collector_paused()
@_blas_on_one_thread()
def _solve_model(problem: PlanProblem, options: SolveOptions, start_from: Solution | None) -> Solution:
    started = time.perf_counter()
    if options.time_limit_s is None:
        # solved in this process, nothing beside
        return _solve_built(problem, options, start_from, started, None)
    started_s = time.monotonic()
    columns = replica_columns(problem)
    # a restricted model runs beside the whole model only from a start, on two cores or more, with
    # time for it
    beside_possible = options.warm_start and largest_batches.cores() >= 2 and options.time_limit_s >= largest_batches.MIN_BESIDE_S
    restricted = largest_batches.restricted_problem(problem, columns) if beside_possible else None
    with started_early(_children(columns, restricted is not None)):
        if restricted is None:
            return _solve_built(problem, options, start_from, started, None)
        # the second child solves the restricted model while this process builds the whole one
        part = largest_batches.restricted_part(restricted, options, options.time_limit_s)
        early = part.job(started_s + options.time_limit_s - READ_BACK_S_PER_COLUMN * columns)
        beside_child = start_beside(early)
        with ended(beside_child):
            return _solve_built(problem, options, start_from, started, (part, beside_child, early.restricted_deadline_s))


def _children(columns: int, beside: bool) -> tuple[str, ...]:
    """The children a timed solve will likely hand its models to (optimizer/highs.py decides): the
    whole model's where the model is large or has a restricted model beside it, and the
    restricted model's where there is one (the limit leaves time for it)."""
    whole = ("optimizer.child_solve",) if beside or columns >= CHILD_MIN_COLUMNS else ()
    return whole + (("optimizer.neighbourhoods",) if beside else ())


def _solve_built(
    problem: PlanProblem,
    options: SolveOptions,
    start_from: Solution | None,
    started: float,
    restricted: tuple[largest_batches.RestrictedPart, Started, float] | None,
) -> Solution:
    # the restricted model's plans reach the whole model column by column, so its columns stay
    kept = largest_batches.largest_batch_ids(problem)
    model = build_model(problem, leave_out=frozenset(key for key in dominated_columns(problem) if key[:2] not in kept))
    built = time.perf_counter()
    primary = model.objectives[problem.objective]
    objective = tie_broken_objective(model, problem.objective) if options.tie_break else primary
    base = None if start_from is None else start_from.groups
    start = lp_rounding_start(model, objective, base) if options.warm_start else Start(None)
    # the limit is on the wall clock from the call: building the model and the start count. With
    # a start, what is left may be nothing (the start is then the plan); without, HiGHS gets a
    # moment to find one
    floor_s = 0.0 if start.values is not None else MIN_SOLVE_S
    remaining = None if options.time_limit_s is None else max(options.time_limit_s - (time.perf_counter() - started), floor_s)
    beside = None
    if restricted is not None and remaining is not None and remaining >= largest_batches.MIN_BESIDE_S:
        building_from = time.perf_counter()
        beside = largest_batches.beside_of(restricted[0], model, restricted[1], restricted[2])
        remaining = max(remaining - (time.perf_counter() - building_from), 0.5)
    result = run(model.prob, objective, options, remaining, start.values, start.lower_bound, beside, start.reduced_costs)
    solved = Solution(status=result.status, build_s=built - started, solve_s=time.perf_counter() - built, solver=SOLVER_NAME)
    if not solved.has_solution:
        return solved
    return replace(solved, groups=groups(model), objective_value=pulp.value(primary), gap=result.gap)
