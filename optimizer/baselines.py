"""Reference placements a plan is compared with: the best single GPU type, and max throughput."""

from __future__ import annotations

from dataclasses import dataclass, replace

from optimizer.candidates import Candidate
from optimizer.metrics import FleetSummary, summarize
from optimizer.problem import PlanProblem, SolveOptions, Status
from optimizer.solve import solve


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    status: Status
    summary: FleetSummary | None


def best_single_gpu_type(problem: PlanProblem, options: SolveOptions) -> Baseline:
    """Every workload on one GPU type (the best of those that can serve all), same constraints."""
    best: tuple[float, str, FleetSummary] | None = None
    for hardware in sorted({c.hardware for c in problem.candidates}):
        restricted = problem.restricted([c for c in problem.candidates if c.hardware == hardware])
        solution = solve(restricted, replace(options, tie_break=False))
        if not solution.has_solution:
            continue
        fleet = summarize(restricted, solution.assignments)
        if best is None or fleet.joules_per_token < best[0]:
            best = (fleet.joules_per_token, hardware, fleet)
    if best is None:
        return Baseline("best single GPU type", "no single GPU type can serve every workload here", "infeasible", None)
    return Baseline("best single GPU type", f"everything on {best[1]}", "optimal", best[2])


def max_throughput(problem: PlanProblem, options: SolveOptions) -> Baseline:
    """Each configuration at its largest batch that meets the SLO, fewest GPUs: what a
    throughput-first operator runs."""
    fastest: dict[tuple[str, str, int], Candidate] = {}
    for candidate in problem.candidates:
        key = (candidate.workload, candidate.hardware, candidate.gpus_per_replica)
        held = fastest.get(key)
        if held is None or (candidate.tok_s, -candidate.power_w) > (held.tok_s, -held.power_w):
            fastest[key] = candidate
    restricted = replace(problem.restricted(list(fastest.values())), objective="gpus")
    solution = solve(restricted, options)
    summary = summarize(restricted, solution.assignments) if solution.has_solution else None
    return Baseline(
        "max throughput",
        "largest batch meeting the SLO per configuration, fewest GPUs",
        solution.status,
        summary,
    )
