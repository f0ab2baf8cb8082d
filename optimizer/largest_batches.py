"""A primal heuristic for fleet-scale plans: the MILP restricted to each workload's largest
batches, solved first, its plan handed to the whole model as the start to beat.

Among the candidates of one workload on one (hardware, runtime, GPUs per replica) the batches
draw the same peak power from a site's budget and take the same GPUs; the largest batch that
meets the SLO carries the most tokens on them, at the fewest joules per token. Where budgets
bind, the optimum is made almost only of those: on a binding L fleet (#14: tightness 0.9,
seed 1) 452 of the 455 replicas of the best plan known were the largest batch and the other
three the second largest. Smaller batches only fine-tune a workload's cover, while giving
HiGHS seven times the columns to search. The model kept to the largest batches is solved in a
share of the time limit and found within 3 s plans that the whole model had not found in 60 s;
the whole model then proves its bound against that plan (optimizer/highs.run's cutoff) and may
still beat it, so no plan is ever restricted: the heuristic only supplies the incumbent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from optimizer.candidates import Candidate
from optimizer.problem import PlanProblem, SolveOptions

KEPT_BATCHES = 2
"""Per workload and (hardware, runtime, GPUs per replica): how many of the largest batches the
restricted model keeps. One alone found the better plan on three of four binding L fleets in
3 s, two on the fourth (#14's benchmark, 2026-12-02); two keep room to fine-tune a cover."""

MIN_COLUMNS = 5_000
"""Below this the whole model is solved as it is: small models prove their gap in a second
without help, and a second solve would only cost its start-up."""

SHARE_OF_LIMIT = 0.3
"""Of the time left after the start, what the restricted solve may use: the whole model needs
the rest to prove its root bound (4.4-5.8 s of HiGHS on the binding L fleet, 2026-12-02)."""


def _family(candidate: Candidate) -> tuple[str, str, str, int]:
    point = candidate.point
    return (candidate.workload, point.hardware, point.runtime, point.gpus_per_replica)


def largest_batch_ids(problem: PlanProblem, kept: int = KEPT_BATCHES) -> frozenset[tuple[str, str]]:
    """(workload, candidate id) of the `kept` candidates with the most planned tokens/s in each
    family of batches; ties keep the smaller batch, which draws less power."""
    families: dict[tuple[str, str, str, int], list[Candidate]] = defaultdict(list)
    for candidate in problem.candidates:
        families[_family(candidate)].append(candidate)
    return frozenset(
        (c.workload, c.id)
        for family in families.values()
        for c in sorted(family, key=lambda c: (-problem.planned_tok_s(c), c.point.load))[:kept]
    )


def restricted_problem(problem: PlanProblem) -> PlanProblem | None:
    """The problem kept to its largest batches, where that removes candidates and the model is
    large enough to gain from it; else None. Workloads served at several sites are left alone,
    as the rounding start leaves them (their plans need the site indicators)."""
    if any(w.min_sites > 1 for w in problem.workloads):
        return None
    keep = largest_batch_ids(problem)
    if len(keep) == len(problem.candidates):
        return None
    columns = sum(1 for c in problem.candidates for site in problem.sites if site.inventory.get(c.hardware, 0) >= c.gpus_per_replica)
    if columns < MIN_COLUMNS:
        return None
    return problem.restricted([c for c in problem.candidates if (c.workload, c.id) in keep])


def restricted_options(options: SolveOptions, time_left_s: float) -> SolveOptions:
    """The restricted solve's share of the time left, and a gap it will not reach in it: its
    own bound proves nothing for the whole model, so it should search until its share is spent."""
    return replace(options, time_limit_s=time_left_s * SHARE_OF_LIMIT, gap_rel=options.gap_rel * RESTRICTED_GAP_SHARE)


RESTRICTED_GAP_SHARE = 0.1
"""Of the requested gap, what the restricted solve aims at."""
