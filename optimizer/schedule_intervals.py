"""A schedule's intervals solved one by one, across the machine's cores.

Dropping what ties the intervals together (starts cost nothing below zero, change rows only
remove schedules) leaves one small placement MILP per interval, and their bounds add up to a
bound on the whole schedule. Each interval is tried once with a short limit; then the interval
furthest from its bound is solved again with twice its last limit, until the sum is within the
gap or time runs out. Intervals are independent, so a process pool (the standard library's)
solves several at once, each on one HiGHS thread; one core, or a process running other threads,
solves them in this process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context

import pulp

from optimizer.formulation import PlacementModel, build_model, tie_broken_objective
from optimizer.highs import run
from optimizer.problem import PlanProblem, ReplicaGroup, SolveOptions, Status
from optimizer.solve import groups

FIRST_TRY_S = 2.0
"""An interval's first solve is at most this long (most hours of large.yaml prove 0.1 % in
0.05-0.5 s, a few take 2-5 s)."""
MIN_TRY_S = 0.05
POOL_MIN_INTERVALS = 8
"""Fewer intervals than this are solved in this process: they rarely take longer than a pool starts."""


ColumnKey = tuple[str, str]
"""(column id, site): a shared configuration's id, or `workload|candidate id` for a candidate's
own replicas; the same column in every interval of a schedule."""


def columns(model: PlacementModel) -> dict[ColumnKey, pulp.LpVariable]:
    """The model's integer replica columns by key."""
    found = {(f"{workload}|{candidate_id}", site): n for (workload, candidate_id, site), n in model.replicas.items()}
    found.update(model.groups)
    return found


def counts(model: PlacementModel) -> dict[ColumnKey, int]:
    return {key: round(n.varValue or 0.0) for key, n in columns(model).items()}


@dataclass
class IntervalSolve:
    """One interval alone: its best objective (per hour, tie-broken) and that plan's primary
    objective, groups, replica counts and column values by name; the best bound proven under
    it; the last limit it had."""

    value: float
    bound: float
    limit_s: float | None
    primary: float
    groups: tuple[ReplicaGroup, ...]
    counts: dict[ColumnKey, int]
    values: dict[str, float]

    @property
    def slack(self) -> float:
        return self.value - self.bound

    def merged(self, later: IntervalSolve) -> IntervalSolve:
        """The better incumbent of two solves of one interval, under the better bound."""
        best = later if later.value < self.value else self
        return replace(best, bound=max(self.bound, later.bound), limit_s=later.limit_s)


def solve_model(model: PlacementModel, options: SolveOptions, limit_s: float | None) -> IntervalSolve | Status:
    objective = tie_broken_objective(model, model.problem.objective)
    result = run(model.prob, objective, options, limit_s)
    if result.status in ("infeasible", "no_solution"):
        return result.status
    values = {variable.name: variable.varValue or 0.0 for variable in model.prob.variables()}
    value = pulp.value(objective) or 0.0
    bound = float("-inf") if result.gap is None else value - abs(value) * result.gap
    primary = pulp.value(model.objectives[model.problem.objective]) or 0.0
    return IntervalSolve(value, bound, limit_s, primary, groups(model), counts(model), values)


def _solve_in_worker(problem: PlanProblem, bound_demand_tok_s: Mapping[str, float], options: SolveOptions, limit_s: float | None) -> IntervalSolve | Status:
    return solve_model(build_model(problem, bound_demand_tok_s=bound_demand_tok_s), options, limit_s)


def workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


Batch = Callable[[list[tuple[int, float | None]], Callable[[int], None] | None], list["IntervalSolve | Status"]]
"""Solves (interval, limit) pairs, all at once where it can, telling the callback of each one done."""


Overhead = Callable[[Sequence["IntervalSolve"]], float]
"""What the plans cost beyond their intervals' objectives (their starts), per hour of interval:
it counts against the gap the intervals must reach."""


def solve_intervals(
    problems: Sequence[PlanProblem],
    bound_demand_tok_s: Mapping[str, float],
    options: SolveOptions,
    phase_end_s: float | None,
    overhead: Overhead,
    progress: Callable[[int], None] | None = None,
) -> list[IntervalSolve | None] | int:
    """Each interval's plan and bound (None where none was found in time), or the index of an
    interval proven infeasible. Each model is built where it is solved, with its columns bounded
    by `bound_demand_tok_s`; `progress` hears of each interval's first solve."""
    # forked workers start at once and need no importable __main__; a process running other
    # threads (the dashboard's server) could fork one mid-lock, so it solves here instead
    alone = sum(not thread.daemon for thread in threading.enumerate()) == 1  # a progress bar's monitor is a daemon
    count = workers() if alone and len(problems) >= POOL_MIN_INTERVALS else 1
    if count == 1:
        built: dict[int, PlacementModel] = {}

        def here(batch: list[tuple[int, float | None]], done: Callable[[int], None] | None) -> list[IntervalSolve | Status]:
            results: list[IntervalSolve | Status] = []
            for t, limit in batch:
                built.setdefault(t, build_model(problems[t], bound_demand_tok_s=bound_demand_tok_s))
                results.append(solve_model(built[t], options, limit))
                if done is not None:
                    done(1)
            return results

        return _rounds(len(problems), options, phase_end_s, 1, here, overhead, progress)
    with ProcessPoolExecutor(max_workers=count, mp_context=get_context("fork")) as pool:

        def in_pool(batch: list[tuple[int, float | None]], done: Callable[[int], None] | None) -> list[IntervalSolve | Status]:
            futures = [pool.submit(_solve_in_worker, problems[t], bound_demand_tok_s, options, limit) for t, limit in batch]
            results: list[IntervalSolve | Status] = []
            for future in futures:
                results.append(future.result())
                if done is not None:
                    done(1)
            return results

        return _rounds(len(problems), options, phase_end_s, count, in_pool, overhead, progress)


def _rounds(
    tries: int, options: SolveOptions, phase_end_s: float | None, count: int, solve_batch: Batch, overhead: Overhead, progress: Callable[[int], None] | None
) -> list[IntervalSolve | None] | int:
    """The first try of every interval, then the least proven again, `count` at a time."""
    first_s = None if phase_end_s is None else min(max((phase_end_s - time.monotonic()) * count / tries, MIN_TRY_S), FIRST_TRY_S)
    found: list[IntervalSolve | None] = [None] * tries
    limits: list[float | None] = [first_s] * tries
    pending = list(range(tries))
    first = True
    while pending:
        for t, result in zip(pending, solve_batch([(t, limits[t]) for t in pending], progress if first else None), strict=True):
            if result == "infeasible":
                return t
            if isinstance(result, IntervalSolve):
                previous = found[t]
                found[t] = result if previous is None else previous.merged(result)
        first = False
        if phase_end_s is None:
            break
        left_s = phase_end_s - time.monotonic()
        pending = _least_proven(found, options, count, overhead)
        for t in pending:
            limits[t] = min(2 * (limits[t] or FIRST_TRY_S), left_s)
        pending = [t for t in pending if (limits[t] or 0.0) >= MIN_TRY_S]
    return found


def _least_proven(found: list[IntervalSolve | None], options: SolveOptions, count: int, overhead: Overhead) -> list[int]:
    """Up to `count` intervals furthest from their bound, or none once the sum (with the overhead
    of the plans found) is within the gap."""
    done = [solved for solved in found if solved is not None]
    if len(done) == len(found):
        extra = overhead(done)
        if sum(s.slack for s in done) + extra <= options.gap_rel * (sum(abs(s.value) for s in done) + extra):
            return []
    slack = {t: float("inf") if solved is None else solved.slack for t, solved in enumerate(found)}
    open_ = [t for t, solved in enumerate(found) if solved is None or solved.slack > options.gap_rel * abs(solved.value)]
    return sorted(open_, key=lambda t: slack[t], reverse=True)[:count]
