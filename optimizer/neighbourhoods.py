"""The second core's search for fleets whose budgets bind: the MILP kept to each workload's
largest batches (optimizer/largest_batches.py), then a large-neighbourhood search by workloads
from its best plan, in the whole model's columns.

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

`python -m optimizer.neighbourhoods` runs as the child beside the whole model's
(optimizer/child_solve.solve_in_child) and sends ("solution", objective, values) in the whole
model's columns, each checked against every row and bound of the whole model first.
"""

from __future__ import annotations

import itertools
import os
import pickle
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from optimizer.child_solve import feasible_start, model_matrix, rebuilt_highs, run_highs

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
class BesideJob:
    """What the second child needs: the restricted model, how its columns map into the whole
    model's, the whole model, its checked start (or None) and each workload's columns."""

    restricted: dict[str, Any]
    restricted_options: dict[str, Any]
    restricted_deadline_s: float
    """time.monotonic() at which the restricted solve gives way to the neighbourhoods."""
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


def run_beside(job: BesideJob, send: Callable[[tuple[Any, ...]], None]) -> None:
    """The restricted solve until its deadline, then the neighbourhoods from the better of its
    plan and the start; every better whole plan is sent."""
    matrix = model_matrix(job.whole).tocsc()
    integral = job.whole["integrality"] != 0
    best_objective = None if job.start is None else float(job.whole["col_cost"] @ job.start + job.whole["offset"])
    best = job.start

    def offer(values: np.ndarray) -> bool:
        nonlocal best_objective, best
        objective = float(job.whole["col_cost"] @ values + job.whole["offset"])
        if best_objective is not None and objective >= best_objective:
            return False
        if not feasible_start(job.whole, (np.arange(job.whole["num_col"]), values), matrix=matrix):
            return False
        best_objective, best = objective, values
        send(("solution", objective, values))
        return True

    def restricted_solution(message: tuple[Any, ...]) -> None:
        if message[0] == "solution":
            values = np.zeros(job.whole["num_col"])
            values[job.whole_columns] = message[2][job.restricted_columns]
            # HiGHS's integers within its tolerance, as integers: the neighbourhoods fix them
            values[integral] = np.round(values[integral])
            # a column the mapping misses (a shared group whose members differ) leaves the
            # point infeasible, and it is not taken
            offer(values)

    limit_s = job.restricted_deadline_s - time.monotonic()
    if limit_s > 0:
        highs = rebuilt_highs(job.restricted, {**job.restricted_options, "time_limit": limit_s})
        _, _, _, values = run_highs(highs, None, None, restricted_solution)
        if values is not None:
            restricted_solution(("solution", None, values))
    if best is not None:
        search(job, matrix, best, offer)


def search(job: BesideJob, matrix: Any, start: np.ndarray, offer: Callable[[np.ndarray], bool]) -> None:
    """Improve `start` (a feasible point of the whole model, whose `model_matrix` column-wise is
    `matrix`) until the deadline or until a whole pass over the neighbourhoods finds nothing
    better. Each better plan is offered, and the search goes on from it where `offer` takes it
    (it checks the plan against the model)."""
    import highspy

    arrays = job.whole
    values = start.astype(np.float64)
    objective = float(arrays["col_cost"] @ values)
    highs = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy ships partial stubs
    for name, value in (("output_flag", False), ("threads", 1), ("random_seed", job.seed), ("mip_rel_gap", SUB_MIP_GAP_REL)):
        highs.setOptionValue(name, value)
    improved = True
    while improved:
        improved = False
        for chosen in interacting_first(matrix, job.workload_columns, values, job.seed):
            left_s = job.deadline_s - time.monotonic()
            if left_s <= 0:
                return
            free = np.unique(np.concatenate([job.workload_columns[i] for i in chosen]))
            found = _sub_solve(highs, highspy, arrays, matrix, values, free, min(SUB_MIP_S, left_s))
            if found is None:
                continue
            candidate = values.copy()
            candidate[free] = found
            candidate_objective = float(arrays["col_cost"] @ candidate)
            if candidate_objective < objective - IMPROVEMENT_REL * max(1.0, abs(objective)) and offer(candidate):
                values, objective, improved = candidate, candidate_objective, True


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
    highs.run()
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
    run_beside(pickle.load(sys.stdin.buffer), connection.send)
    connection.close()
