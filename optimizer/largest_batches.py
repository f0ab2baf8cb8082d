"""A primal heuristic for fleet-scale plans: the MILP kept to each workload's largest batch,
solved beside the whole model on the second core, its best plan kept where it beats the whole
model's.

Among the candidates of one workload on one (hardware, runtime, GPUs per replica) the batches
draw the same peak power from a site's budget and take the same GPUs; the largest batch that
meets the SLO carries the most tokens on them, at the fewest joules per token. Where budgets
bind, the optimum is made almost only of those: on a binding L fleet (#14: tightness 0.9,
seed 1) 452 of the 455 replicas of the best plan known were the largest batch and the other
three the second largest. Smaller batches only fine-tune a workload's cover, while giving
HiGHS seven times the columns to search, and its search finds incumbents slowly there.

Why beside and not before: the whole model needs 4.4-5.8 s of HiGHS for its root bound on L,
and every second given to a restricted solve first was a second less for it (run first with
30 % of a 10 s limit, the restriction took three loose fleets from a proven 0.26-0.41 % to
0.51-0.61 %). Each model runs in a child of its own, HiGHS on one thread with its seed, and
the reported bound is the whole model's alone, so no plan is restricted: the heuristic only
supplies incumbents, and a test plans a batch the restriction leaves out where it is the optimum.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pulp

from optimizer.candidates import Candidate
from optimizer.child_solve import configured_options, model_arrays
from optimizer.formulation import PlacementModel, build_model, tie_broken_objective
from optimizer.problem import PlanProblem, SolveOptions

KEPT_BATCHES = 1
"""Per workload and (hardware, runtime, GPUs per replica): how many of the largest batches the
restricted model keeps. On binding L fleets one and two found plans within 0.1 % of each other
in 3 s; on XL (tightness 0.7) one found 7,394,537 W in 40 s, two 7,485,073 W (2026-12-02)."""

MIN_COLUMNS = 5_000
"""Below this the whole model is solved as it is: small models prove their gap in a second
without help, and a second solve would only cost its start-up."""

MIN_BESIDE_S = 3.0
"""Less time left than this after the start, and the whole model is solved alone: building the
restricted model and a second child would take most of a short limit (a 2 s plan took 2.4 s)."""

RESTRICTED_GAP_SHARE = 0.1
"""Of the requested gap, what the restricted solve aims at: its own bound proves nothing for the
whole model, so it should search until the whole model stops."""


def _family(candidate: Candidate) -> tuple[str, str, str, int]:
    point = candidate.point
    return (candidate.workload, point.hardware, point.runtime, point.gpus_per_replica)


def largest_batch_ids(problem: PlanProblem, kept: int | None = None) -> frozenset[tuple[str, str]]:
    """(workload, candidate id) of the `kept` (default KEPT_BATCHES) candidates with the most
    planned tokens/s in each family of batches; ties keep the smaller batch, which draws less power."""
    kept = KEPT_BATCHES if kept is None else kept
    families: dict[tuple[str, str, str, int], list[Candidate]] = defaultdict(list)
    for candidate in problem.candidates:
        families[_family(candidate)].append(candidate)
    return frozenset(
        (c.workload, c.id)
        for family in families.values()
        for c in sorted(family, key=lambda c: (-problem.planned_tok_s(c), c.point.load))[:kept]
    )


def restricted_problem(problem: PlanProblem, columns: int) -> PlanProblem | None:
    """The problem kept to its largest batches, where that removes candidates and its model's
    `columns` are enough to gain from it; else None. Workloads served at several sites are left
    alone, as the rounding start leaves them (their plans need the site indicators)."""
    if columns < MIN_COLUMNS or any(w.min_sites > 1 for w in problem.workloads):
        return None
    keep = largest_batch_ids(problem)
    if len(keep) == len(problem.candidates):
        return None
    return problem.restricted([c for c in problem.candidates if (c.workload, c.id) in keep])


@dataclass(frozen=True)
class Beside:
    """The restricted model, built, and the arrays and options its child solves it with."""

    model: PlacementModel
    arrays: dict[str, Any]
    options: dict[str, Any]

    def read(self, values: Any) -> None:
        """Set the restricted model's columns to a solution of its child (its column order)."""
        for var in self.model.prob.variables():
            var.varValue = float(values[var.index])


def beside_model(restricted: PlanProblem, options: SolveOptions, time_limit_s: float) -> Beside:
    """The restricted model as HiGHS will hold it: PuLP configures a HiGHS object as it would for
    the whole model, whose arrays and options the second child rebuilds."""
    model = build_model(restricted)
    model.prob.setObjective(tie_broken_objective(model, restricted.objective) if options.tie_break else model.objectives[restricted.objective])
    solver = pulp.HiGHS(
        msg=False, timeLimit=time_limit_s, gapRel=options.gap_rel * RESTRICTED_GAP_SHARE, threads=1, random_seed=options.seed,
        presolve="on" if options.presolve else "off",
    )
    solver.createAndConfigureSolver(model.prob)
    solver.buildSolverModel(model.prob)
    return Beside(model, model_arrays(model.prob.solverModel), configured_options(model.prob.solverModel))


def cores() -> int:
    """The cores this process may run on: the restricted model has a child of its own beside the
    whole model's only where there is a second."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
