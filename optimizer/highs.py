"""The solver adapter: PuLP's HiGHS given a checked starting solution as its cutoff, a wall-clock
limit that holds (large models solve in optimizer/child_solve), one thread and a seed, and its
banner kept quiet."""

from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pulp
import scipy.sparse

from optimizer.child_solve import (
    CHILD_MIN_COLUMNS,
    CHILD_START_S,
    ChildResult,
    configured_options,
    dense_start,
    feasible_start,
    highs_lp,
    run_on_one_thread,
    solve_here,
    solve_in_child,
)
from optimizer.cutoff_bounds import within_cutoff
from optimizer.errors import OptimizerError
from optimizer.problem import SolveOptions, Status

if TYPE_CHECKING:
    from optimizer.largest_batches import Beside

READ_BACK_S_PER_COLUMN = 1e-5
"""What reading the values back and building the plan takes per column once the child is done:
2.2 s for XL's 228,000 columns on the 2-core dev machine (2026-12-02; 1.1-1.2 s on 2026-11-27)."""
SOLVER_NAME = "HiGHS"


@dataclass(frozen=True)
class RunResult:
    status: Status
    gap: float | None
    """The relative gap HiGHS proved; 0 when it proved the requested gap."""


def pulp_arrays(lp: pulp.LpProblem, mip: bool = True) -> tuple[dict[str, Any], list[pulp.LpVariable]]:
    """The problem as arrays (child_solve.highs_lp), and its columns in that order: PuLP's, by
    name, each column's `index` set to its place as PuLP's own hand-over does. Built in bulk:
    PuLP adds HiGHS one column and one row at a time and gathers `lp.variables()` anew on every
    call: with this, XL's children started 15.1 s into the limit, where they started at 21.7 s
    (tightness 0.7, seed 1; 2026-12-03, 2-core dev machine).
    The order matters to HiGHS's search: numbered as first met instead, two binding XL fleets
    ended at 1.43 % and 1.45 % where by name they proved 0.69 % and 0.98 % within 60 s."""
    objective = lp.objective if lp.objective is not None else pulp.LpAffineExpression()
    rows = lp.constraints()
    # every column the objective or a row holds, once (what `lp.variables()` gathers, without
    # its Python call per entry): entries are told apart by id(), which PuLP hashes columns by
    named = list(itertools.chain(objective, *rows))
    unique_ids, first_at, entry_of = np.unique(np.fromiter(map(id, named), dtype=np.int64, count=len(named)), return_index=True, return_inverse=True)
    order = np.array(sorted(range(len(first_at)), key=lambda k: named[first_at[k]].name), dtype=np.int64)
    number = np.empty(len(unique_ids), dtype=np.int64)
    number[order] = np.arange(len(unique_ids))
    columns = [named[at] for at in first_at[order].tolist()]
    for index, column in enumerate(columns):
        column.index = index
    sign = -1.0 if lp.sense == pulp.LpMaximize else 1.0
    entries = [len(row) for row in rows]
    total = sum(entries)
    cost = np.zeros(len(columns))
    cost[number[entry_of[: len(objective)]]] = sign * np.fromiter(objective.values(), dtype=np.float64, count=len(objective))
    matrix = scipy.sparse.csc_matrix(
        (
            np.fromiter(itertools.chain.from_iterable(row.values() for row in rows), dtype=np.float64, count=total),
            (np.repeat(np.arange(len(rows)), entries), number[entry_of[len(objective) :]]),
        ),
        shape=(len(rows), len(columns)),
    )
    matrix.eliminate_zeros()
    bounds = [(row.getLb(), row.getUb()) for row in rows]
    arrays = {
        "num_col": len(columns),
        "num_row": len(rows),
        "sense": 1,  # HiGHS's ObjSense.kMinimize; a maximisation is handed over negated, as PuLP does
        "offset": sign * float(objective.constant),
        "col_cost": cost,
        "col_lower": np.array([-np.inf if column.lowBound is None else column.lowBound for column in columns], dtype=np.float64),
        "col_upper": np.array([np.inf if column.upBound is None else column.upBound for column in columns], dtype=np.float64),
        "row_lower": np.array([-np.inf if lower is None else lower for lower, _ in bounds], dtype=np.float64),
        "row_upper": np.array([np.inf if upper is None else upper for _, upper in bounds], dtype=np.float64),
        "format": 1,  # HiGHS's MatrixFormat.kColwise
        "start": matrix.indptr.astype(np.int32),
        "index": matrix.indices.astype(np.int32),
        "value": matrix.data,
        "integrality": np.array([mip and column.cat == pulp.LpInteger for column in columns], dtype=np.int8),
    }
    return arrays, columns


class _ArrayHighs(pulp.HiGHS):  # type: ignore[misc]  # PuLP ships no type hints
    """PuLP's HiGHS with the model handed over as arrays (pulp_arrays), and only the columns'
    values read back, with an LP's reduced costs as each column's `dj` and its row duals as each
    row's `pi` (HiGHS's, of the minimisation it solved; optimizer/cutoff_bounds.py and the
    start's priced covers use them): nothing here reads row slacks."""

    arrays: dict[str, Any]
    columns: list[pulp.LpVariable]

    def actualSolve(self, lp: pulp.LpProblem) -> int:  # noqa: N802 - PuLP's name
        self.createAndConfigureSolver(lp)
        self.arrays, self.columns = pulp_arrays(lp, self.mip)
        self.callSolver(lp)
        status, solution_status = self.findSolutionValues(lp)
        lp.assignStatus(status, solution_status)
        return int(status)

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 - PuLP's name
        self.load(lp)
        run_on_one_thread(lp.solverModel)

    def load(self, lp: pulp.LpProblem) -> None:
        """Hand the model to the HiGHS object PuLP configured."""
        import highspy

        lp.solverModel.passModel(highs_lp(highspy, self.arrays))

    def findSolutionValues(self, lp: pulp.LpProblem) -> tuple[int, int]:  # noqa: N802 - PuLP's name
        import highspy

        status = lp.solverModel.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            solution = lp.solverModel.getSolution()
            self.assign(np.asarray(solution.col_value))
            if not self.mip:
                for column, reduced_cost in zip(self.columns, solution.col_dual, strict=True):
                    column.dj = reduced_cost
                for row, dual in zip(lp.constraints(), solution.row_dual, strict=True):
                    row.pi = dual
            return pulp.LpStatusOptimal, pulp.LpSolutionOptimal
        if status == highspy.HighsModelStatus.kInfeasible:
            return pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return pulp.LpStatusUnbounded, pulp.LpSolutionUnbounded
        return pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound

    def assign(self, values: np.ndarray) -> None:
        for column, value in zip(self.columns, values.tolist(), strict=True):
            column.varValue = value


class _HighsFromStart(_ArrayHighs):
    """PuLP's HiGHS interface, handing HiGHS a starting solution (PuLP 3 passes none) and
    solving through optimizer/child_solve: in a child process when the model is large and a time
    limit must hold, else here."""

    def __init__(
        self,
        start: Mapping[str, float] | None = None,
        deadline_s: float | None = None,
        lower_bound: float | None = None,
        beside: Beside | None = None,
        reduced_costs: Mapping[str, float] | None = None,
        **options: object,
    ) -> None:
        super().__init__(**options)
        self.beside = beside
        self.reduced_costs = reduced_costs
        self.start = start
        self.deadline_s = deadline_s
        self.lower_bound = lower_bound
        self.result: ChildResult | None = None

    def _start_arrays(self, lp: pulp.LpProblem) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.start:
            return None
        variables = [var for var in self.columns if var.name in self.start]
        indices = np.array([var.index for var in variables], dtype=np.int32)
        return indices, np.array([self.start[var.name] for var in variables], dtype=np.float64)

    def callSolver(self, lp: pulp.LpProblem) -> None:  # noqa: N802 - PuLP's name
        start = self._start_arrays(lp)
        arrays = self.arrays
        if start is not None and not feasible_start(arrays, start):
            # the start is built to satisfy every row; one that does not is not trusted as a cutoff
            start = None
        start_objective = None if start is None else float(arrays["col_cost"][start[0]] @ start[1] + arrays["offset"])
        if start_objective is not None and self.reduced_costs is not None and self.lower_bound is not None:
            # the start as a cutoff narrows the columns (optimizer/cutoff_bounds.py); the LP bound,
            # a hair below the LP's optimum, only widens them
            reduced_costs = np.array([self.reduced_costs.get(column.name, 0.0) for column in self.columns])
            arrays = self.arrays = within_cutoff(arrays, reduced_costs, self.lower_bound, start_objective)
        if self.deadline_s is not None and (arrays["num_col"] >= CHILD_MIN_COLUMNS or self.beside is not None):
            # leave the time it takes to read the values back and build the plan inside the limit
            deadline_s = self.deadline_s - READ_BACK_S_PER_COLUMN * arrays["num_col"]
            dense = None if start is None else dense_start(start, arrays["num_col"])
            if dense is not None and deadline_s - time.monotonic() < CHILD_START_S:
                # no child could better the checked start in time: it is the answer, the bound
                # proven beside (the LP relaxation) its gap
                result = ChildResult("feasible", dense, start_objective, None, stopped_at_deadline=True)
            else:
                options = configured_options(lp.solverModel)
                job = None
                if self.beside is not None:
                    index_of = {var.name: var.index for var in self.columns}
                    job = self.beside.job(arrays, index_of, dense, options["random_seed"], deadline_s)
                result = solve_in_child(arrays, options, start, start_objective, deadline_s, job, None if self.beside is None else self.beside.early)
        else:
            self.load(lp)
            result = solve_here(lp.solverModel, start, start_objective)
        self.result = result.with_lower_bound(self.lower_bound)

    def findSolutionValues(self, lp: pulp.LpProblem) -> tuple[int, int]:  # noqa: N802 - PuLP's name
        result = self.result
        assert result is not None, "callSolver sets the result"
        if result.values is not None:
            self.assign(result.values)
        return {
            "optimal": (pulp.LpStatusOptimal, pulp.LpSolutionOptimal),
            "feasible": (pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible),
            "infeasible": (pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible),
            "no_solution": (pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound),
        }[result.status]

    def proven_gap(self) -> float | None:
        return None if self.result is None else self.result.gap


@functools.cache
def _quiet_banner() -> None:
    """HiGHS prints a banner to the process's stdout when its first solver object is made,
    whatever `output_flag` says. Where no other thread but daemons (tqdm's monitor) runs, as in
    the CLI, make that first object with file descriptor 1 pointed at /dev/null. In a
    multi-threaded process (the dashboard's server) other threads write through that descriptor
    too, so the banner is let through to its log instead."""
    import highspy

    if sum(not thread.daemon for thread in threading.enumerate()) > 1:
        highspy.Highs()  # type: ignore[no-untyped-call]  # highspy ships partial stubs
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _checked(solver: pulp.LpSolver) -> pulp.LpSolver:
    if not solver.available():
        raise OptimizerError("the HiGHS solver is not available. To fix: `pip install highspy` (a dependency of this package).")
    return solver


def relaxation_solver() -> pulp.LpSolver:
    """HiGHS for the LP relaxation: one thread, no output."""
    _quiet_banner()
    return _checked(_ArrayHighs(msg=False, mip=False, threads=1))


def run(
    prob: pulp.LpProblem,
    objective: pulp.LpAffineExpression,
    options: SolveOptions,
    time_limit_s: float | None,
    start: Mapping[str, float] | None = None,
    lower_bound: float | None = None,
    beside: Beside | None = None,
    reduced_costs: Mapping[str, float] | None = None,
) -> RunResult:
    """Solve `prob` for `objective`; the status is HiGHS's solution status, never only PuLP's
    "Optimal" (which a time-limited incumbent also reports). `lower_bound`, a bound proven
    elsewhere (the LP relaxation the start came from), counts where HiGHS proves less; with that
    relaxation's `reduced_costs` (by column name) the start also narrows the integer columns.
    `beside` (optimizer/largest_batches.py) searches in a second child where a time limit is
    given; its plans count as incumbents."""
    prob.setObjective(objective)
    _quiet_banner()
    solver = _HighsFromStart(
        start,
        None if time_limit_s is None else time.monotonic() + time_limit_s,
        lower_bound,
        beside,
        reduced_costs,
        msg=False,
        timeLimit=time_limit_s,
        gapRel=options.gap_rel,
        threads=1,
        random_seed=options.seed,
        # a start reaches HiGHS as a cutoff (optimizer/child_solve.run_highs); a child solving the
        # model over replica totals runs without presolve, which would substitute them back
        presolve="on" if options.presolve else "off",
    )
    prob.solve(_checked(solver))
    gap = solver.proven_gap()
    if prob.sol_status == pulp.LpSolutionOptimal:
        # "Optimal" means within the requested gap: report the gap HiGHS proved.
        return RunResult("optimal", gap or 0.0)
    if prob.sol_status == pulp.LpSolutionIntegerFeasible:
        # within the requested gap by a bound proven beside HiGHS's: as HiGHS's "optimal" means
        return RunResult("optimal" if gap is not None and gap <= options.gap_rel else "feasible", gap)
    if prob.sol_status == pulp.LpSolutionInfeasible:
        return RunResult("infeasible", None)
    return RunResult("no_solution", None)
