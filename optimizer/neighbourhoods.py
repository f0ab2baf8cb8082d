"""The second core's search for fleets whose budgets bind: the MILP kept to each workload's
largest batches (optimizer/largest_batches.py) while the parent builds the whole model and its
start, then a large-neighbourhood search by workloads from the better of the restricted model's
plan and the start, in the whole model's columns.

A neighbourhood frees every column of two workloads and fixes the rest; the sub-MIP left (their
demand rows, and the budget and inventory the fixed plan leaves at each site) has a few
thousand columns and HiGHS solves it near its optimum in a fraction of a second. Pairs, because
where budgets bind a workload can only take a better configuration at a site once another gives
up budget there: one moves, the other fills in.

Measured on the binding L fleets of benchmarks/binding_budgets.py (2026-12-02, one core, the
settings below): from the restricted model's 3 s plan on tightness 0.9 seed 1 (1,068,202 W) the
pairs reached 1,063,209 W within 3 s, within 0.5 % of the root bound (a plan of 1,064,960 W
would do); with random pairs and 1 s sub-MIPs, 1,062,686 W in 20 s, below the best plan known
before (1,064,236 W). On tightness 0.7 seed 3 they went from 1,319,672 W to 1,312,566 W in
6.5 s, below what 240 s of plain HiGHS found (1,313,718 W). HiGHS's own search finds such plans
slowly there: its sub-MIP heuristics work near the LP relaxation, whose fractions of large
replicas fill every tight budget. Started from the rounding start instead, on tightness 0.9
seed 1 the same search was at 1,079,979 W after 7 s: the restricted model's plan is the better
place to begin.

Two changes of 2026-12-07 (same machine). The restricted solve hands over its first plan better
than the start instead of searching on: on tightness 0.5 seed 1 its own search went from
969,458 W at 0.9 s to 969,282 W at 3.1 s, where the pairs from its first plan reached 967,763 W
within a second. And a pass first frees only the pair's largest batches and the columns its plan
uses, the whole of the pair's columns once such a pass finds nothing better: on 16 pairs from
the start of tightness 0.5 seed 3 those sub-MIPs took 1.1 s together instead of 6.2 s (on that
fleet 254 columns per sub-MIP on average instead of 1,646), and gained within 5 % of the same on
15 of them. The search from the rounding
start alone, without the restricted model, ended 1.4 % above the bound at 10 s on tightness 0.7
seed 2, where the restricted model's first plan was already within 0.5 %.

Those starts were 4.1-5.2 % above the LP bound on four of the nine fleets. Since the start is
the cheapest of five covers (optimizer/start.py; 0.96-4.05 %, 2026-12-08), the restricted solve
gives way as soon as the whole job is here, and the pairs start from the better of its plan and
the start: on the nine fleets the planner proved 0.5 % in 1.2-4.5 s (tightness 0.9 seed 1: 2.4
against 5.9 s with the restricted solve run to its first plan better than the new start; 0.7
seed 2, where the pairs from the old start ended 1.4 % above the bound: 1.3 s).

`python -m optimizer.neighbourhoods` runs as the child beside the whole model's
(optimizer/child_solve.solve_in_child) and sends ("solution", objective, values) in the whole
model's columns, each checked against every row and bound of the whole model first. A timed
solve gives it the restricted model alone as soon as that is built (optimizer/solve.py), and the
rest of its job once the whole model and the start are: on the binding L fleets it used to
start 0.9 s into the solve, after them.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from optimizer.child_solve import better_plan, model_matrix, rebuilt_highs, run_highs, run_on_one_thread, warm_up

SUB_MIP_S = 0.4
"""The most one sub-MIP may run. More pairs tried beat fewer proven: from the plan of 1,068,830 W
on tightness 0.9 seed 1, 5 s of pairs reached 1,063,529 W at 0.4 s each and 1,066,363 W at 1 s;
on three other fleets 0.4 s was as good or better at 3 s, 0.25 s no better than 0.4."""
SUB_MIP_GAP_REL = 5e-4
"""Of the whole plan's objective: how near its optimum a sub-MIP need be. Proving each to HiGHS's
default (1e-4 of the sub-MIP's own objective) made them 0.45 s each on L, 0.28 s at this."""
FREED_WORKLOADS = 2
IMPROVEMENT_REL = 1e-9
"""A sub-MIP's plan must beat the current one by this share of its objective to be taken."""


@dataclass(frozen=True)
class RestrictedJob:
    """What the second child can start on before the whole model is built: the restricted model."""

    restricted: dict[str, Any]
    restricted_options: dict[str, Any]
    restricted_deadline_s: float
    """time.monotonic() at which the restricted solve gives way to the neighbourhoods."""


@dataclass(frozen=True)
class BesideJob(RestrictedJob):
    """What the second child needs: the restricted model, how its columns map into the whole
    model's, the whole model, its checked start (or None) and each workload's columns."""

    restricted_columns: np.ndarray
    whole_columns: np.ndarray
    """Column restricted_columns[i] of the restricted model is column whole_columns[i] of the whole."""
    whole: dict[str, Any]
    start: np.ndarray | None
    workload_columns: tuple[np.ndarray, ...]
    """The whole model's columns of each workload; a column that serves several (a shared group's
    replicas) is listed under each."""
    seed: int
    deadline_s: float


def pairs(workloads: int, seed: int) -> list[tuple[int, ...]]:
    """Every set of FREED_WORKLOADS workloads, in an order drawn from `seed`."""
    found = list(itertools.combinations(range(workloads), min(FREED_WORKLOADS, workloads)))
    random.Random(seed).shuffle(found)
    return found


def interacting_first(matrix: Any, workload_columns: tuple[np.ndarray, ...], values: np.ndarray, seed: int) -> list[tuple[int, ...]]:
    """The pairs, those whose plans share the most rows (a site's budget or inventory) first: on
    four binding L fleets the plan after 4.5 s of search was 0.05-0.16 % cheaper than in the
    seed's order alone (2026-12-02)."""
    rows = [set(matrix[:, columns[values[columns] > 1e-9]].indices.tolist()) for columns in workload_columns]
    return sorted(pairs(len(workload_columns), seed), key=lambda chosen: -len(set.intersection(*(rows[i] for i in chosen))))


def run_beside(first: RestrictedJob, send: Callable[[tuple[Any, ...]], None],
               arriving: Callable[[bool], BesideJob | None] = lambda wait: None) -> None:
    """The restricted solve until the whole job is here (until its deadline where no
    neighbourhoods follow), then the neighbourhoods from the better of its plan and the start;
    every better whole plan is sent. `first` is the whole job, or only its restricted model, the
    rest of it then coming from `arriving` (waiting for it where told to; None where it never
    comes): the restricted solve starts while the parent still builds the whole model."""
    beside = _Beside(send, first if isinstance(first, BesideJob) else None)

    def learn(wait: bool) -> None:
        if beside.job is None and (job := arriving(wait)) is not None:
            beside.learn(job)

    def restricted_solution(message: tuple[Any, ...]) -> None:
        learn(False)
        if message[0] == "solution":
            beside.restricted_plan(message[2])

    def handing_over(event: Any) -> None:
        learn(False)
        if beside.job is not None and beside.hand_over:
            event.data_in.user_interrupt = True

    limit_s = first.restricted_deadline_s - time.monotonic()
    if limit_s > 0:
        highs = rebuilt_highs(first.restricted, {**first.restricted_options, "time_limit": limit_s})
        highs.cbMipInterrupt.subscribe(handing_over)
        _, _, _, values = run_highs(highs, None, None, restricted_solution)
        if values is not None:
            beside.restricted_plan(values)
    learn(True)
    if beside.job is not None and beside.best is not None:
        search(beside.job, beside.matrix, beside.best, beside.offer)


class _Beside:
    """The second child's best whole plan, and the restricted plans waiting for the whole job."""

    def __init__(self, send: Callable[[tuple[Any, ...]], None], job: BesideJob | None) -> None:
        self.send = send
        self.job: BesideJob | None = None
        self.waiting: np.ndarray | None = None
        """The newest restricted plan found before the whole job came (each beats the one before)."""
        self.best: np.ndarray | None = None
        self.best_objective: float | None = None
        if job is not None:
            self.learn(job)

    def learn(self, job: BesideJob) -> None:
        self.job = job
        self.matrix = model_matrix(job.whole).tocsc()
        self.integral = job.whole["integrality"] != 0
        self.best = job.start
        self.best_objective = None if job.start is None else float(job.whole["col_cost"] @ job.start + job.whole["offset"])
        # where the neighbourhoods follow, the restricted solve gives way to them once the whole
        # job is here: from the start they improve faster than its own search finds a plan
        self.hand_over = job.restricted_deadline_s < job.deadline_s
        if self.waiting is not None:
            self.restricted_plan(self.waiting)

    def offer(self, values: np.ndarray) -> bool:
        assert self.job is not None
        taken = better_plan(self.job.whole, self.best_objective, values, self.matrix)
        if taken is None:
            return False
        self.best_objective, self.best = taken
        self.send(("solution", *taken))
        return True

    def restricted_plan(self, restricted_values: np.ndarray) -> None:
        if self.job is None:
            self.waiting = restricted_values
            return
        values = np.zeros(self.job.whole["num_col"])
        values[self.job.whole_columns] = restricted_values[self.job.restricted_columns]
        # HiGHS's integers within its tolerance, as integers: the neighbourhoods fix them
        values[self.integral] = np.round(values[self.integral])
        # a column the mapping misses (a shared group whose members differ) leaves the point
        # infeasible, and it is not taken
        self.offer(values)


def search(job: BesideJob, matrix: Any, start: np.ndarray, offer: Callable[[np.ndarray], bool]) -> None:
    """Improve `start` (a feasible point of the whole model, whose `model_matrix` column-wise is
    `matrix`) until the deadline or until a whole pass over the neighbourhoods finds nothing
    better, freeing the pair's largest batches and the columns in use until one pass finds
    nothing, then every column of the pair. Each better plan is offered, and the search goes on
    from it where `offer` takes it (it checks the plan against the model)."""
    import highspy

    arrays = job.whole
    values = start.astype(np.float64)
    objective = float(arrays["col_cost"] @ values)
    highs = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy ships partial stubs
    for name, value in (("output_flag", False), ("threads", 1), ("random_seed", job.seed), ("mip_rel_gap", SUB_MIP_GAP_REL)):
        highs.setOptionValue(name, value)
    largest = np.zeros(arrays["num_col"], dtype=bool)
    largest[job.whole_columns] = True
    narrow = True
    while True:
        improved = False
        for chosen in interacting_first(matrix, job.workload_columns, values, job.seed):
            left_s = job.deadline_s - time.monotonic()
            if left_s <= 0:
                return
            free = np.unique(np.concatenate([job.workload_columns[i] for i in chosen]))
            if narrow:
                free = free[largest[free] | (values[free] > 0)]
            found = _sub_solve(highs, highspy, arrays, matrix, values, free, min(SUB_MIP_S, left_s))
            if found is None:
                continue
            candidate = values.copy()
            candidate[free] = found
            candidate_objective = float(arrays["col_cost"] @ candidate)
            if candidate_objective < objective - IMPROVEMENT_REL * max(1.0, abs(objective)) and offer(candidate):
                values, objective, improved = candidate, candidate_objective, True
        if not improved:
            if not narrow:
                return
            narrow = False


def _sub_solve(highs: Any, highspy: Any, arrays: dict[str, Any], matrix: Any, values: np.ndarray, free: np.ndarray, limit_s: float) -> np.ndarray | None:
    """The best values HiGHS finds for the `free` columns with every other column fixed at
    `values`, or None where it finds nothing better within `limit_s`."""
    block = matrix[:, free]
    rows = np.unique(block.indices)
    fixed = (matrix @ values)[rows] - block[rows] @ values[free]
    block = block[rows].tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(free), len(rows)
    lp.col_cost_ = arrays["col_cost"][free]
    # the fixed columns' cost as the offset, so that HiGHS's relative gap is the whole plan's
    lp.offset_ = float(arrays["col_cost"] @ values - arrays["col_cost"][free] @ values[free] + arrays["offset"])
    lp.col_lower_, lp.col_upper_ = arrays["col_lower"][free], arrays["col_upper"][free]
    lp.row_lower_, lp.row_upper_ = arrays["row_lower"][rows] - fixed, arrays["row_upper"][rows] - fixed
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(free), len(rows)
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = block.indptr, block.indices, block.data
    lp.integrality_ = [highspy.HighsVarType(int(kind)) for kind in arrays["integrality"][free]]
    highs.passModel(lp)
    current = float(arrays["col_cost"] @ values + arrays["offset"])
    highs.setOptionValue("time_limit", limit_s)
    highs.setOptionValue("objective_bound", current - IMPROVEMENT_REL * max(1.0, abs(current)))
    run_on_one_thread(highs)
    if highs.getInfo().primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible:
        return None
    found = np.array(highs.getSolution().col_value)
    integral = arrays["integrality"][free] != 0
    found[integral] = np.round(found[integral])
    return found


if __name__ == "__main__":
    # as optimizer/child_solve's child: stdout is the channel back, anything else written there
    # (HiGHS's banner) goes to /dev/null
    channel = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    connection = Connection(channel, readable=False)
    warm_up()
    incoming = Connection(os.dup(0), writable=False)

    def arriving(wait: bool) -> BesideJob | None:
        """The whole job from the parent (it may send only the restricted model first)."""
        try:
            return incoming.recv() if wait or incoming.poll() else None
        except EOFError:  # the parent ended the solve
            return None

    run_beside(incoming.recv(), connection.send, arriving)
    connection.close()
