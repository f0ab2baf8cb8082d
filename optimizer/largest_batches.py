"""A primal heuristic for fleet-scale plans: the MILP kept to each workload's largest batch,
solved beside the whole model on the second core, its best plan then improved in the whole
model's columns by optimizer/neighbourhoods.py, and kept where it beats the whole model's.

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
Its plans reach the whole model column by column (the same replicas, loads and groups by key),
and the neighbourhoods then bring the smaller batches back in.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pulp

from optimizer.candidates import Candidate
from optimizer.child_solve import Started, configured_options
from optimizer.formulation import PlacementModel, build_model, tie_broken_objective
from optimizer.highs import pulp_arrays
from optimizer.neighbourhoods import BesideJob, RestrictedJob
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


def largest_batch_ids(problem: PlanProblem) -> frozenset[tuple[str, str]]:
    """(workload, candidate id) of the KEPT_BATCHES candidates with the most planned tokens/s in
    each family of batches; ties keep the smaller batch, which draws less power."""
    families: dict[tuple[str, str, str, int], list[Candidate]] = defaultdict(list)
    for candidate in problem.candidates:
        families[_family(candidate)].append(candidate)
    return frozenset(
        (c.workload, c.id)
        for family in families.values()
        for c in sorted(family, key=lambda c: (-problem.planned_tok_s(c), c.point.load))[:KEPT_BATCHES]
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


RESTRICTED_SHARE = 0.4
"""Of the time beside the whole model: the most the restricted solve has before the
neighbourhoods (optimizer/neighbourhoods.py) take its best plan on. It gives way as soon as the
whole model and its start are there, so this only bounds a restricted solve whose whole model
is slow to come. Chosen when it was the restricted solve's whole share: on the nine binding L
fleets at a 10 s limit 0.4 met 0.5 % on eight, 0.5 on another eight (2026-12-02)."""

NEIGHBOURHOOD_MAX_WORKLOADS = 45
"""With more workloads than this the restricted solve has all the time: a pair is then too small
a part of the plan. On XL (100 workloads, 4,950 pairs) 24 s of neighbourhoods from the restricted
model's 16 s plan reached 7,452,812 W, where the restricted model alone, at the end of its root
(23 s), found 7,394,537 W; on L (20 workloads) the neighbourhoods gain in 2 s what its HiGHS gains
in 4 (2026-12-02). 45 lies between the two measured sizes (their geometric mean)."""


@dataclass(frozen=True)
class RestrictedPart:
    """The restricted model, built, and as its HiGHS child will hold it: its arrays and the
    options PuLP configures a HiGHS object with as it would for the whole model."""

    model: PlacementModel
    arrays: dict[str, Any]
    options: dict[str, Any]

    def job(self, deadline_s: float) -> RestrictedJob:
        """What the second child can start on while the whole model is built, for a solve that
        ends at `deadline_s` (time.monotonic())."""
        return RestrictedJob(self.arrays, self.options, _restricted_deadline(len(self.model.problem.workloads), deadline_s))


def _restricted_deadline(workloads: int, deadline_s: float) -> float:
    """When the restricted solve gives way to the neighbourhoods, for a solve ending at `deadline_s`."""
    now = time.monotonic()
    share = RESTRICTED_SHARE if workloads <= NEIGHBOURHOOD_MAX_WORKLOADS else 1.0
    return now + share * max(deadline_s - now, 0.0)


@dataclass(frozen=True)
class Beside:
    """The restricted model as its HiGHS child will hold it, which of its columns are which of
    the whole model's, and the whole model's columns by workload (by name: the whole model's
    column order is only known once PuLP hands it to HiGHS)."""

    arrays: dict[str, Any]
    options: dict[str, Any]
    restricted_columns: np.ndarray
    whole_names: tuple[str, ...]
    """The whole model's column for each of restricted_columns."""
    workload_names: tuple[tuple[str, ...], ...]
    early: Started | None = None
    """The second child, already solving the restricted model (RestrictedPart.job), if started."""
    restricted_deadline_s: float | None = None
    """When that child's restricted solve gives way; None: decided by `job`."""

    def job(self, whole: dict[str, Any], index_of: Mapping[str, int], start: np.ndarray | None, seed: int, deadline_s: float) -> BesideJob:
        """What the second child runs until `deadline_s` (time.monotonic()) for the whole model
        in `arrays`, whose columns `index_of` gives by name."""
        restricted_deadline_s = self.restricted_deadline_s
        if restricted_deadline_s is None:
            restricted_deadline_s = _restricted_deadline(len(self.workload_names), deadline_s)
        return BesideJob(
            restricted=self.arrays,
            restricted_options=self.options,
            restricted_deadline_s=restricted_deadline_s,
            restricted_columns=self.restricted_columns,
            whole_columns=np.array([index_of[name] for name in self.whole_names], dtype=np.int64),
            whole=whole,
            start=start,
            workload_columns=tuple(np.array([index_of[name] for name in names], dtype=np.int64) for names in self.workload_names),
            seed=seed,
            deadline_s=deadline_s,
        )


def beside_model(restricted: PlanProblem, whole: PlacementModel, options: SolveOptions, time_limit_s: float) -> Beside:
    """The restricted model as HiGHS will hold it beside `whole`; the second child rebuilds it."""
    return beside_of(restricted_part(restricted, options, time_limit_s), whole)


def restricted_part(restricted: PlanProblem, options: SolveOptions, time_limit_s: float) -> RestrictedPart:
    """The restricted model built and configured as PuLP would for the whole model, the gap the
    restricted solve aims at aside (RESTRICTED_GAP_SHARE)."""
    model = build_model(restricted)
    model.prob.setObjective(tie_broken_objective(model, restricted.objective) if options.tie_break else model.objectives[restricted.objective])
    solver = pulp.HiGHS(
        msg=False, timeLimit=time_limit_s, gapRel=options.gap_rel * RESTRICTED_GAP_SHARE, threads=1, random_seed=options.seed,
        presolve="on" if options.presolve else "off",
    )
    solver.createAndConfigureSolver(model.prob)
    arrays, _ = pulp_arrays(model.prob)
    return RestrictedPart(model, arrays, configured_options(model.prob.solverModel))


def beside_of(part: RestrictedPart, whole: PlacementModel, early: Started | None = None, restricted_deadline_s: float | None = None) -> Beside:
    """`part` beside `whole`: which of its columns are which of the whole model's. `early`, the
    second child started on `part` alone, solving it until `restricted_deadline_s`."""
    model = part.model
    kinds: list[tuple[Mapping[Any, pulp.LpVariable], Mapping[Any, pulp.LpVariable]]] = [
        (model.replicas, whole.replicas), (model.groups, whole.groups), (model.loads, whole.loads), (model.alone, whole.alone)
    ]
    pairs = [(column, whole_columns[key]) for columns, whole_columns in kinds for key, column in columns.items() if key in whole_columns]
    return Beside(
        part.arrays,
        part.options,
        np.array([column.index for column, _ in pairs], dtype=np.int64),
        tuple(column.name for _, column in pairs),
        workload_columns(whole),
        early,
        restricted_deadline_s,
    )


def workload_columns(model: PlacementModel) -> tuple[tuple[str, ...], ...]:
    """The names of each workload's columns: its replicas, its loads on shared groups, the load
    its own replicas carry, and the shared groups it has a member in."""
    found: dict[str, dict[str, None]] = {w.name: {} for w in model.problem.workloads}
    for (workload, _, _), column in [*model.replicas.items(), *model.loads.items()]:
        found[workload][column.name] = None
    for workload, column in model.alone.items():
        found[workload][column.name] = None
    for (configuration, _), column in model.groups.items():
        for member in model.configurations[configuration].members:
            found[member.workload][column.name] = None
    return tuple(tuple(names) for names in found.values())


def cores() -> int:
    """The cores this process may run on: the restricted model has a child of its own beside the
    whole model's only where there is a second."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
