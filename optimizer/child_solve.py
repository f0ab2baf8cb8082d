"""A HiGHS MIP solve with a checked start as its cutoff (`run_highs`), here or in a child process
so that a time limit holds on the wall clock.

HiGHS 1.16 checks its time limit between phases of its search. On the benchmark's XL fleet
(228,000 integer columns) its central-rounding heuristic started 28 s into a 50 s limit and ran
84 s more, deaf to `cancelSolve` and to the interrupt callback. The child streams every improving
solution and proven bound back through a pipe; at the deadline the parent keeps the best it has
received and ends the child, which frees its core at once (a thread could not be stopped). Plans
found beside (optimizer/neighbourhoods.py), once checked here, go the other way, to the whole
model's HiGHS as its incumbent.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import IO, Any, Literal

import numpy as np

from optimizer.errors import OptimizerError
from optimizer.replica_totals import member_sums, with_totals

CHILD_START_S = 0.5
"""What a child takes to start and read its model (L, 17,000 columns, on the 2-core dev machine):
with less time than this left it cannot better a checked start before the deadline."""
CHILD_MIN_COLUMNS = 10_000
"""Below this a child's start-up (CHILD_START_S) costs more than HiGHS overruns. It was 50,000 until an
L fleet (17,206 columns, generator seed 2) ran 35.6 s in-process for a 10 s limit; in a child the
same solve ended at 10.0 s with the same gap (0.81 % against 0.79 %), measured 2026-11-27."""
ChildStatus = Literal["optimal", "feasible", "infeasible", "no_solution"]


@dataclass(frozen=True)
class ChildResult:
    status: ChildStatus
    values: np.ndarray | None
    """Column values in the model's column order; None without a solution."""
    objective: float | None
    dual_bound: float | None
    stopped_at_deadline: bool

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.dual_bound is None or not math.isfinite(self.dual_bound):
            return None
        return relative_gap(self.objective, self.dual_bound)

    def with_lower_bound(self, lower_bound: float | None) -> ChildResult:
        """The result with a bound proven elsewhere, where it is the better one."""
        if lower_bound is None or self.objective is None or (self.dual_bound is not None and self.dual_bound >= lower_bound):
            return self
        return replace(self, dual_bound=min(lower_bound, self.objective))


def run_on_one_thread(highs: Any) -> None:
    """`highs.run()` for a solve set to one thread, as every solve here is. HiGHS's thread
    scheduler is process-wide: once other code in this process has run HiGHS on more threads, a
    solve asking for one is refused (an error, nothing solved), and a feasible plan was then
    reported as "no solution". The scheduler is started again on one thread and the solve run
    again; a second refusal is an error that says so."""
    import highspy

    def refused() -> bool:
        return bool(highs.run() == highspy.HighsStatus.kError and highs.getModelStatus() == highspy.HighsModelStatus.kNotset)

    if not refused():
        return
    highspy.Highs.resetGlobalScheduler(True)
    if refused():
        raise OptimizerError(
            "HiGHS refused to solve the model (its log says why; set output_flag to see it). To fix: run the planner in a "
            "process of its own, or call highspy.Highs.resetGlobalScheduler(True) after other HiGHS solves in this process."
        )


def relative_gap(primal: float, dual: float) -> float:
    """HiGHS's definition: (primal - dual) / |primal|, never negative."""
    return max(0.0, primal - dual) / max(abs(primal), 1e-9)


SOLVE_OPTIONS = ("mip_rel_gap", "threads", "random_seed", "presolve", "time_limit")
"""What the child must solve with as the parent would have."""


def configured_options(highs: Any) -> dict[str, Any]:
    """The parent's solve settings as PuLP configured them on its HiGHS object."""
    configured = highs.getOptions()
    return {name: getattr(configured, name) for name in SOLVE_OPTIONS}


def highs_lp(highspy: Any, arrays: dict[str, Any]) -> Any:
    """The HighsLp of `arrays`, a model as plain arrays a pipe can carry (optimizer.highs.pulp_arrays
    builds them): HighsLp's fields of the same names, `format` the HiGHS MatrixFormat of the
    matrix in start/index/value and `integrality` a HighsVarType per column."""
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = arrays["num_col"], arrays["num_row"]
    lp.sense_ = highspy.ObjSense(arrays["sense"])
    lp.offset_ = arrays["offset"]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = arrays["col_cost"], arrays["col_lower"], arrays["col_upper"]
    lp.row_lower_, lp.row_upper_ = arrays["row_lower"], arrays["row_upper"]
    lp.a_matrix_.format_ = highspy.MatrixFormat(arrays["format"])
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = arrays["num_col"], arrays["num_row"]
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = arrays["start"], arrays["index"], arrays["value"]
    lp.integrality_ = [highspy.HighsVarType(int(kind)) for kind in arrays["integrality"]]
    return lp


def model_matrix(arrays: dict[str, Any]) -> Any:
    """The model's constraint matrix as a scipy sparse matrix, in the format HiGHS holds it."""
    from scipy.sparse import csc_matrix, csr_matrix

    shape = (arrays["num_row"], arrays["num_col"])
    # HiGHS's MatrixFormat: 1 column-wise, 2 row-wise
    return (csc_matrix if arrays["format"] == 1 else csr_matrix)((arrays["value"], arrays["index"], arrays["start"]), shape=shape)


def dense_start(start: tuple[np.ndarray, np.ndarray], num_col: int) -> np.ndarray:
    """A start given as (column indices, values) as a value for every column, zero elsewhere."""
    values = np.zeros(num_col)
    values[start[0]] = start[1]
    return values


def feasible_start(arrays: dict[str, Any], start: tuple[np.ndarray, np.ndarray], tolerance: float = 1e-6, matrix: Any = None) -> bool:
    """Whether a starting point satisfies every bound, row and integrality of the model: a start
    is trusted as an incumbent (and as the solver's cutoff) only once checked. `matrix`, the
    model's `model_matrix` where the caller holds it already."""
    values = dense_start(start, arrays["num_col"])
    activity = (model_matrix(arrays) if matrix is None else matrix) @ values
    integral = arrays["integrality"] != 0
    return bool(
        np.all(values >= arrays["col_lower"] - tolerance)
        and np.all(values <= arrays["col_upper"] + tolerance)
        and np.all(activity >= arrays["row_lower"] - tolerance * np.maximum(1.0, np.abs(arrays["row_lower"])))
        and np.all(activity <= arrays["row_upper"] + tolerance * np.maximum(1.0, np.abs(arrays["row_upper"])))
        and np.all(np.abs(values[integral] - np.round(values[integral])) <= tolerance)
    )


CUTOFF_TOLERANCE = 1e-9
"""Relative room above a start's objective in the cutoff, so that a solution as good as the start still counts."""


def run_highs(
    highs: Any,
    start: tuple[np.ndarray, np.ndarray] | None,
    start_objective: float | None,
    send: Any = None,
    offered: Callable[[], np.ndarray | None] | None = None,
) -> tuple[ChildStatus, float | None, float | None, np.ndarray | None]:
    """Run a configured HiGHS object (in this process or a child) and read back (status, objective,
    dual bound, values).

    A start is given to HiGHS as a cutoff (`objective_bound`), not as a solution: HiGHS 1.16's
    presolve with a user solution declared a worse point optimal on a random test problem (the
    whole model's child runs without presolve, on its replica totals, but the restricted model and
    in-process solves keep it). Where HiGHS finds nothing below the
    cutoff, the start is the answer: proven optimal when HiGHS proved nothing better exists, else
    feasible with HiGHS's bound. `send`, where given, receives ("solution", objective, values)
    and ("bound", dual) as the search goes. `offered`, where given, is asked at each of HiGHS's
    calls for a user solution (after each round of root cuts, before each dive) for a plan found
    elsewhere, which HiGHS checks and takes as its incumbent where it is better: its reduced-cost
    fixing and pruning then work against that plan instead of the start."""
    import highspy

    if start is None:
        start_objective = None
    if start_objective is not None:
        highs.setOptionValue("objective_bound", start_objective + CUTOFF_TOLERANCE * max(1.0, abs(start_objective)))
    gap_rel = highs.getOptions().mip_rel_gap
    reported = -math.inf

    def progress(event: Any) -> None:
        nonlocal reported
        dual = event.data_out.mip_dual_bound
        if send is not None and dual > reported:
            reported = dual
            send(("bound", dual))
        # HiGHS stops at its gap only against an incumbent of its own; the start below the
        # cutoff counts as one here
        if start_objective is not None and math.isfinite(dual):
            if relative_gap(min(start_objective, event.data_out.mip_primal_bound), dual) <= gap_rel:
                event.data_in.user_interrupt = True

    highs.cbMipInterrupt.subscribe(progress)
    if send is not None:

        def improved(event: Any) -> None:
            send(("solution", event.data_out.objective_function_value, np.array(event.data_out.mip_solution)))

        highs.cbMipImprovingSolution.subscribe(improved)
    if offered is not None:

        def user_solution(event: Any) -> None:
            plan = offered()
            if plan is not None:
                event.data_in.setSolution(plan)

        highs.cbMipUserSolution.subscribe(user_solution)
    run_on_one_thread(highs)
    status = highs.getModelStatus()
    info = highs.getInfo()
    bound = info.mip_dual_bound if info.mip_dual_bound == info.mip_dual_bound and math.isfinite(info.mip_dual_bound) else None
    found = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    # an interrupted HiGHS can hold a point above the cutoff (seen: 63 % above the start)
    if found and (start_objective is None or info.objective_function_value < start_objective):
        objective, values = info.objective_function_value, np.array(highs.getSolution().col_value)
    elif start is None or start_objective is None:
        return ("infeasible" if status == highspy.HighsModelStatus.kInfeasible else "no_solution"), None, None, None
    else:
        objective, values = start_objective, dense_start(start, len(highs.getLp().col_cost_))
        # nothing beats the cutoff: the start is optimal
        bound = start_objective if status == highspy.HighsModelStatus.kInfeasible else bound
    bound = None if bound is None else min(bound, objective)
    proven = bound is not None and relative_gap(objective, bound) <= gap_rel
    return "optimal" if status == highspy.HighsModelStatus.kOptimal or proven else "feasible", objective, bound, values


def solve_here(highs: Any, start: tuple[np.ndarray, np.ndarray] | None, start_objective: float | None) -> ChildResult:
    """Solve in this process (a model small enough that HiGHS keeps its time limit)."""
    status, objective, bound, values = run_highs(highs, start, start_objective)
    return ChildResult(status, values, objective, bound, stopped_at_deadline=False)


def rebuilt_highs(arrays: dict[str, Any], options: dict[str, Any]) -> Any:
    """A quiet HiGHS object holding the model of `arrays`, with `options` set."""
    import highspy

    highs = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy ships partial stubs
    highs.setOptionValue("output_flag", False)
    highs.passModel(highs_lp(highspy, arrays))
    for name, value in options.items():
        highs.setOptionValue(name, value)
    return highs


def warm_up() -> None:
    """What a child loads before its job arrives (started_early): HiGHS, its first solver object.
    numpy's BLAS is kept to one thread here too: a child owns one core, and a second BLAS thread
    spinning after a dot product takes it from the other child (optimizer/solve.py)."""
    import highspy
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    highspy.Highs()  # type: ignore[no-untyped-call]  # highspy ships partial stubs


def _child(connection: Connection, incoming: Connection, arrays: dict[str, Any], options: dict[str, Any],
           start: tuple[np.ndarray, np.ndarray] | None, start_objective: float | None) -> None:
    """Runs in the child: solve the model with its demand rows over replica totals
    (optimizer/replica_totals.py), sending ("solution", objective, values), ("bound", dual) at
    every rise of the bound, and finally ("done", status, objective, dual, values); every plan
    in the columns of `arrays`, the totals dropped. Plans the parent sends on `incoming` (found
    beside, checked there) are offered to HiGHS as they come."""
    columns = arrays["num_col"]
    solved = with_totals(arrays)
    offered = None
    if solved is not arrays:
        # presolve would substitute the totals back. Plans are offered only without it: HiGHS
        # 1.16's presolve with a user solution declared a worse point optimal (run_highs)
        options = {**options, "presolve": "off"}
        sums = member_sums(solved, arrays)

        def offered() -> np.ndarray | None:
            return _newest_plan(incoming, sums)

    highs = rebuilt_highs(solved, options)

    def send(message: tuple[Any, ...]) -> None:
        connection.send(message if message[0] != "solution" else (*message[:2], message[2][:columns]))

    status, objective, bound, values = run_highs(highs, start, start_objective, send, offered)
    connection.send(("done", status, objective, bound, None if values is None else values[:columns]))
    connection.close()


def _newest_plan(incoming: Connection, sums: Any) -> np.ndarray | None:
    """The newest plan the parent sent since the last call (_Feed.send_plan), with the values of
    its totals (`sums`, replica_totals.member_sums); None where none came."""
    newest = None
    with contextlib.suppress(EOFError, OSError):  # the parent closed the feed: no more plans
        while incoming.poll():
            newest = incoming.recv()
    if newest is None:
        return None
    _, size, columns, values = newest
    plan = np.zeros(size)
    plan[columns] = values
    return np.concatenate([plan, sums @ plan])


def _spawned(module: str) -> subprocess.Popen[bytes]:
    """`python -m module`, waiting for its job on stdin. Not multiprocessing's spawn, which would
    re-run a user's unguarded script in the child; the child inherits this process's import path."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    return subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment)


_waiting: dict[str, list[subprocess.Popen[bytes]]] = defaultdict(list)
_waiting_lock = threading.Lock()


@contextlib.contextmanager
def started_early(modules: Sequence[str]) -> Iterator[None]:
    """Children of `modules` started now, for the solves inside to hand their jobs to: a child
    takes 0.2-0.3 s to start Python and load numpy and HiGHS (2-core dev machine), which then
    passes while this process builds the model and its start. Those left unused are ended."""
    early = [(module, _spawned(module)) for module in modules]
    with _waiting_lock:
        for module, child in early:
            _waiting[module].append(child)
    try:
        yield
    finally:
        unused = []
        with _waiting_lock:
            for module, child in early:
                if child in _waiting[module]:
                    _waiting[module].remove(child)
                    unused.append(child)
        for child in unused:
            child.kill()
            child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()


def _start_child(module: str, job: Any) -> Started:
    """A child of `module` (one started early where one waits), fed `job` through stdin."""
    with _waiting_lock:
        child = _waiting[module].pop() if _waiting[module] else None
    if child is None:
        child = _spawned(module)
    assert child.stdin is not None and child.stdout is not None
    feed = _Feed(child.stdin, job)
    receiver = Connection(os.dup(child.stdout.fileno()), writable=False)
    child.stdout.close()
    return Started(child, receiver, feed)


@dataclass(frozen=True)
class Started:
    """A child with its job: the process, what it sends back, and the feed that may send it more."""

    process: subprocess.Popen[bytes]
    receiver: Connection
    feed: _Feed

    def end(self) -> None:
        """The child ended (where it still runs) and its pipes closed; ending it twice is harmless."""
        self.feed.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.receiver.close()


def start_beside(job: Any) -> Started:
    """The second child (optimizer.neighbourhoods) started on `job` now: given the restricted
    model alone, it solves that while this process builds the whole model."""
    return _start_child("optimizer.neighbourhoods", job)


@contextlib.contextmanager
def ended(started: Started | None) -> Iterator[None]:
    """`started` ended when the block is left, whether or not a solve took it."""
    try:
        yield
    finally:
        if started is not None:
            started.end()


class _Feed:
    """Messages to a child's stdin, written from a thread of their own: the pipe holds 64 KiB, so
    a write blocks until the child reads (it has not started yet, or HiGHS is between callbacks),
    and a deadline that passes meanwhile must still end the solve. Of the plans waiting, only
    the newest is written: each one sent beats the one before."""

    def __init__(self, pipe: IO[bytes], job: Any) -> None:
        self._waiting: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = Connection(os.dup(pipe.fileno()), readable=False)
        pipe.close()
        threading.Thread(target=self._write, args=(job,), daemon=True).start()

    def send_plan(self, values: np.ndarray) -> None:
        """A plan for the child's HiGHS (_newest_plan), sent as its nonzero columns."""
        columns = np.flatnonzero(values)
        self.send(("plan", len(values), columns, values[columns]))

    def send(self, message: Any) -> None:
        self._waiting.put(message)

    def close(self) -> None:
        """No more messages: the child sees the end of its input once the job is written."""
        self._waiting.put(None)

    def _write(self, job: Any) -> None:
        # a child that died or was ended first breaks the pipe; the receiver sees the end of its output
        with contextlib.suppress(OSError):
            try:
                self._writer.send(job)
                while True:
                    message = self._waiting.get()
                    newest = None
                    while message is not None:
                        newest = message
                        if self._waiting.empty():
                            break
                        message = self._waiting.get()
                    if newest is not None:
                        self._writer.send(newest)
                    if message is None:
                        return
            finally:
                self._writer.close()


def solve_in_child(
    arrays: dict[str, Any],
    options: dict[str, Any],
    start: tuple[np.ndarray, np.ndarray] | None,
    start_objective: float | None,
    deadline_s: float,
    beside: Any = None,
    started_beside: Started | None = None,
) -> ChildResult:
    """Solve until the child finishes or `deadline_s` (time.monotonic()) passes, whichever is
    first; the start counts as the first incumbent. `beside`, an optimizer.neighbourhoods job,
    runs in a second child on the second core (`started_beside`, where that child was started
    on the restricted model alone, is sent the rest): each plan it sends, in this model's columns,
    counts as an incumbent once checked here against every row and bound, and the solve stops
    once the best incumbent is within the gap of the bound this model's child proved."""
    whole = _start_child("optimizer.child_solve", (arrays, options, start, start_objective))
    receiver = whole.receiver
    second = None
    if beside is not None:
        if started_beside is None:
            second = start_beside(beside)
        else:
            second = started_beside
            second.feed.send(beside)
        second.feed.close()  # the whole job is all it reads
    values = None if start is None or start_objective is None else dense_start(start, arrays["num_col"])
    objective, dual_bound = start_objective, None
    status: ChildStatus = "feasible" if values is not None else "no_solution"
    finished = False
    open_receivers: list[Any] = [receiver] if second is None else [receiver, second.receiver]
    try:
        while (remaining_s := deadline_s - time.monotonic()) > 0:
            if second is not None and objective is not None and dual_bound is not None and math.isfinite(dual_bound):
                # the model's own child stops at its gap against its own incumbents only
                if relative_gap(objective, dual_bound) <= options["mip_rel_gap"]:
                    break
            ready = wait(open_receivers, remaining_s)
            if not ready:
                break
            if second is not None and second.receiver in ready:
                try:
                    taken = better_plan(arrays, objective, second.receiver.recv()[2])
                    if taken is not None:
                        objective, values = taken
                        whole.feed.send_plan(values)
                except EOFError:  # the second child finished or died; keep what it sent
                    open_receivers.remove(second.receiver)
                if receiver not in ready:
                    continue
            try:
                message = receiver.recv()
            except EOFError:  # the child died; keep what it sent
                break
            if message[0] == "solution" and (objective is None or message[1] < objective):
                objective, values = message[1], message[2]
            elif message[0] == "bound":
                dual_bound = message[1] if dual_bound is None else max(dual_bound, message[1])
            elif message[0] == "done":
                finished = True
                status, final_objective, final_bound, final_values = message[1:]
                if final_values is not None and (objective is None or final_objective <= objective + 1e-9):
                    objective, values = final_objective, final_values
                if status in ("optimal", "feasible") and final_bound is not None and final_bound == final_bound:
                    dual_bound = final_bound if dual_bound is None else max(dual_bound, final_bound)
                if status in ("no_solution", "infeasible") and values is not None:
                    # a plan beside, checked against the model, is a solution all the same
                    status = "feasible"
                break
    finally:
        for started in [whole] + ([] if second is None else [second]):
            started.end()
    if not finished:
        status = "feasible" if values is not None else "no_solution"
    if status in ("infeasible", "no_solution"):
        return ChildResult(status, None, None, None, not finished)
    return ChildResult(status, values, objective, dual_bound, not finished)


def better_plan(arrays: dict[str, Any], objective: float | None, values: np.ndarray, matrix: Any = None) -> tuple[float, np.ndarray] | None:
    """The (objective, values) of a plan found elsewhere where it beats `objective` and meets
    every row and bound of the model (`matrix`, its `model_matrix` where the caller holds it); a
    plan is never taken on its finder's word, whether sent from beside or mapped from the
    restricted model."""
    # the objective as this model counts it, not as sent
    counted = float(arrays["col_cost"] @ values + arrays["offset"])
    if objective is not None and counted >= objective:
        return None
    if not feasible_start(arrays, (np.arange(arrays["num_col"]), values), matrix=matrix):
        return None
    return counted, values


if __name__ == "__main__":
    # stdout is the channel back; HiGHS prints a banner on its first solver object whatever its
    # options say, so everything else written to stdout goes to /dev/null
    channel = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    warm_up()
    incoming = Connection(os.dup(0), writable=False)
    _child(Connection(channel, readable=False), incoming, *incoming.recv())
