"""Reference placements a plan is compared with: the best single GPU type, max throughput, and
replicas of their own per workload (where the plan shares replicas)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from optimizer.candidates import Candidate
from optimizer.metrics import FleetSummary, summarize
from optimizer.problem import PlanProblem, Solution, SolveOptions, Status
from optimizer.replica_groups import configurations
from optimizer.solve import solve, within

SKIPPED = "skipped: the time limit was spent before this baseline"


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    status: Status | Literal["skipped"]
    summary: FleetSummary | None


def best_single_gpu_type(problem: PlanProblem, options: SolveOptions, deadline_s: float | None = None) -> Baseline:
    """Every workload on one GPU type (the best of those that can serve all), same constraints;
    skipped when `deadline_s` (time.monotonic()) comes before its solves are done."""
    best: tuple[float, str, FleetSummary] | None = None
    for hardware in sorted({c.hardware for c in problem.candidates}):
        limited = within(replace(options, tie_break=False), deadline_s)
        if limited is None:
            return Baseline("best single GPU type", SKIPPED, "skipped", None)
        restricted = problem.restricted([c for c in problem.candidates if c.hardware == hardware])
        solution = solve(restricted, limited)
        if not solution.has_solution:
            continue
        fleet = summarize(restricted, solution.groups)
        if best is None or fleet.joules_per_token < best[0]:
            best = (fleet.joules_per_token, hardware, fleet)
    if best is None:
        return Baseline("best single GPU type", "no single GPU type can serve every workload here", "infeasible", None)
    return Baseline("best single GPU type", f"everything on {best[1]}", "optimal", best[2])


def max_throughput(problem: PlanProblem, options: SolveOptions, deadline_s: float | None = None) -> Baseline:
    """Each configuration at its largest batch that meets the SLO, fewest GPUs: what a
    throughput-first operator runs."""
    limited = within(options, deadline_s)
    if limited is None:
        return Baseline("max throughput", SKIPPED, "skipped", None)
    fastest: dict[tuple[str, str, int], Candidate] = {}
    for candidate in problem.candidates:
        key = (candidate.workload, candidate.hardware, candidate.gpus_per_replica)
        held = fastest.get(key)
        if held is None or (candidate.tok_s, -candidate.power_w) > (held.tok_s, -held.power_w):
            fastest[key] = candidate
    restricted = replace(problem.restricted(list(fastest.values())), objective="gpus")
    solution = solve(restricted, limited)
    summary = summarize(restricted, solution.groups) if solution.has_solution else None
    return Baseline(
        "max throughput",
        "largest batch meeting the SLO per configuration, fewest GPUs",
        solution.status,
        summary,
    )


def own_replicas(problem: PlanProblem, solution: Solution, options: SolveOptions, deadline_s: float | None = None) -> Baseline | None:
    """The plan with every workload on replicas of its own: what sharing saves (solved beside the
    plan where the plan needed it anyway). None where nothing could be shared."""
    if not any(c.shared for c in configurations(problem.candidates, problem.share_replicas)):
        return None
    unshared = replace(problem, share_replicas=False)
    alone = solution.unshared
    if alone is None:
        limited = within(options, deadline_s)
        if limited is None:
            return Baseline(OWN_REPLICAS, SKIPPED, "skipped", None)
        alone = solve(unshared, limited)
    summary = summarize(unshared, alone.groups) if alone.has_solution else None
    return Baseline(OWN_REPLICAS, "no replica serves two workloads", alone.status, summary)


OWN_REPLICAS = "own replicas per workload"
