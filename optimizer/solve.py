"""One placement solve: the model, a starting solution, HiGHS, and the replicas read back with
each workload's demand split over them."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace

import pulp

from optimizer.formulation import PlacementModel, ReplicaKey, build_model, tie_broken_objective
from optimizer.highs import SOLVER_NAME, run
from optimizer.problem import Assignment, PlanProblem, Solution, SolveOptions
from optimizer.start import lp_rounding_start


def assignments(model: PlacementModel) -> tuple[Assignment, ...]:
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


MIN_SOLVE_S = 0.5
"""A follow-up solve (baseline, shadow price) is not started with less time than this left."""


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

    `start_from`, a solution of a similar problem (last month's plan), seeds the starting point."""
    started = time.perf_counter()
    model = build_model(problem)
    built = time.perf_counter()
    primary = model.objectives[problem.objective]
    objective = tie_broken_objective(model, problem.objective) if options.tie_break else primary
    base: dict[ReplicaKey, int] | None = None
    if start_from is not None:
        base = {(a.workload, a.candidate_id, a.site): a.replicas for a in start_from.assignments}
    start = lp_rounding_start(model, objective, base) if options.warm_start else None
    # the limit is on the wall clock from the call: building the model and the start count
    remaining = None if options.time_limit_s is None else max(options.time_limit_s - (time.perf_counter() - started), 0.5)
    result = run(model.prob, objective, options, remaining, start)
    solved = Solution(status=result.status, build_s=built - started, solve_s=time.perf_counter() - built, solver=SOLVER_NAME)
    if not solved.has_solution:
        return solved
    return replace(solved, assignments=assignments(model), objective_value=pulp.value(primary), gap=result.gap)
